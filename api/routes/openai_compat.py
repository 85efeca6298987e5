"""OpenAI-compatible facade: ``POST /v1/chat/completions``, ``GET /v1/models[/{id}]``.

Any OpenAI client (the ``openai`` SDK, LangChain ``ChatOpenAI``, chat UIs) can chat with the
agent at ``base_url=http://host:8000/v1``. The last ``user`` message is the turn; earlier
messages are not replayed, the agent keeps the conversation itself. Which session a request
continues (see :mod:`api.openai_conversations`):

1. an explicit session -- the ``X-Session-ID`` header, else ``metadata.session_id`` (404 if
   unknown or another user's);
2. else the session whose stored history matches the request's prior user/assistant
   messages, within the caller's proven identity (:mod:`api.identity`: the API key's
   tenant and the ``user`` field, a widget-verified user, or an anonymous token);
3. else a new session (the request has no prior turns, or they match nothing).

The answer's content is the reply followed by a numbered markdown list of the
recommendations (title, year and the reason each fits: the client has no cards); the
structured list rides along as the extra fields ``recommendations`` and ``session_id``; the
session id is also in the ``X-Session-ID`` header (streams included).

Parameters: ``max_tokens`` / ``max_completion_tokens`` truncate the content
(``finish_reason: "length"``); ``stream_options.include_usage`` adds the final usage chunk;
``stop`` cuts the content before the first stop sequence;
``n`` must be 1; ``temperature`` / ``top_p`` / ``seed`` / ``user`` are accepted (the offline
planner is deterministic, they do not change its answer); client ``tools`` /
``tool_choice`` / ``functions``, ``logprobs`` and any ``response_format`` other than text are
refused (400). An unknown model is 404 ``model_not_found``. Every error of these routes is
OpenAI's shape ``{"error": {"message", "type", "code", "param"}}`` (a superset of the API's
``{"error": {"code", "message"}}``, with the same codes), and an invalid request is 400 as
with OpenAI -- never 422: a blank user message (``empty_message``), no user message
(``no_user_message``), a message over RECAGENT_MAX_MESSAGE_CHARS (``message_too_long``), an
unknown role, a malformed field (``invalid_request``). The request model says all of this in
the OpenAPI document. Only a body over RECAGENT_MAX_BODY_BYTES is 413.

A UI's background prompt (title / tag generation, :mod:`api.openai_background`) gets a short
plain answer and touches no session.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Literal

from annotated_types import Ge, MaxLen
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from agent.tokens import count_tokens
from agent.types import TurnResult
from api.admission import TurnGate
from api.deps import get_gate, get_metrics, get_runtime, get_settings
from api.errors import (
    MALFORMED_BODY,
    ApiError,
    OpenAIErrorEnvelope,
    classify,
    count_error,
    documented,
    from_agent_event,
    openai_type,
    validation_code,
)
from api.identity import Identity, bind_new, check_access, identify, token_headers
from api.messages import JsonInt, MessageText, check_length, integral, is_text
from api.metrics import Metrics
from api.openai_background import background_answer, is_background
from api.openai_conversations import AMBIGUOUS, digest, index_for
from api.routes.chat import ID_PATTERN
from api.sse import SSE_HEADERS, sse_event
from memory.session import SessionAccessDenied, new_session_id
from recagent.settings import Settings

log = logging.getLogger("recagent.api")

MODEL_ID = "recagent"
MODEL_CREATED = 1_700_000_000


# ---- errors in OpenAI's shape --------------------------------------------------------------

class OpenAIError(ApiError):
    """An :class:`ApiError` that also names the offending parameter."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(status, code, message)
        self.param = param


def openai_error_body(status: int, code: str, message: str,
                      param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": openai_type(status), "code": code,
                      "param": param}}


def _error_response(request: Request, exc: ApiError) -> JSONResponse:
    count_error(request, exc.code)
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.message, extra={"code": exc.code,
                                                            "status": exc.status})
    param = getattr(exc, "param", None)
    return JSONResponse(openai_error_body(exc.status, exc.code, exc.message, param),
                        status_code=exc.status, headers=exc.headers)


def _validation_error(exc: RequestValidationError) -> OpenAIError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return OpenAIError(400, "malformed_json", MALFORMED_BODY)
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
        f"{e.get('msg', 'invalid')}" for e in errors[:5]) or "invalid request"
    return OpenAIError(400, validation_code(exc), message, param)


class OpenAIRoute(APIRoute):
    """Every error of these routes -- validation included -- in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _error_response(request, _validation_error(exc))
            except StarletteHTTPException as exc:
                if exc.status_code != 400:  # 400: FastAPI could not decode the body
                    raise
                return _error_response(request, OpenAIError(400, "malformed_json",
                                                            MALFORMED_BODY))
            except Exception as exc:
                mapped = classify(exc)
                if mapped is None:
                    raise
                return _error_response(request, mapped)

        return handle


router = APIRouter(tags=["openai"], route_class=OpenAIRoute)


# ---- request -------------------------------------------------------------------------------

def _has_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not any(part.get("type") == "text" and is_text(part.get("text")) for part in parts):
        raise PydanticCustomError("empty_message", "the message is empty")
    return parts


_TEXT_PART = {"type": "object", "required": ["type", "text"],
              "properties": {"type": {"const": "text"},
                             "text": {"type": "string", "pattern": r"\S"}}}
# content parts (``[{"type": "text", "text": ...}, ...]``) with at least one text part
TextParts = Annotated[
    list[dict[str, Any]],
    AfterValidator(_has_text),
    WithJsonSchema({"type": "array", "items": {"type": "object"}, "contains": _TEXT_PART}),
]


class UserMessage(BaseModel):
    """A user message: its text is a chat message (not blank, within the limit)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["user"]
    content: MessageText | TextParts


class OtherMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


ChatMessage = Annotated[UserMessage | OtherMessage, Field(discriminator="role")]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool = False


def _refuse(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


_NO_TOOLS = ("client-side tools (function calling) are not supported; the recommender runs "
             "its own tools")
_TOOL_CHOICE = WithJsonSchema({"anyOf": [{"enum": ["none", "auto"]}, {"type": "null"}]})


class CompletionRequest(BaseModel):
    """OpenAI's request, as far as a recommender can honour it: what it cannot is refused
    by this model (and so documented), never silently ignored."""

    # strict: a field is what the OpenAPI document says it is ("1" is not an integer)
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="the conversation; the last `user` message is this turn (what follows "
                    "it is ignored)",
        json_schema_extra={"contains": {"type": "object", "required": ["role"],
                                        "properties": {"role": {"const": "user"}}}})
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, pattern=ID_PATTERN)
    n: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1}),
                 BeforeValidator(integral)] | None = Field(
        default=None, description="must be 1: one answer per request")
    max_tokens: Annotated[int, Ge(1), BeforeValidator(integral)] | None = None
    max_completion_tokens: Annotated[int, Ge(1), BeforeValidator(integral)] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: JsonInt | None = None
    metadata: Annotated[dict[str, Any], WithJsonSchema({
        "type": "object",
        "properties": {"session_id": {"type": "string", "pattern": ID_PATTERN}}})] | None = \
        Field(default=None, description="`session_id`: continue this session")
    tools: Annotated[list[Any], WithJsonSchema({"type": "array", "maxItems": 0})] | None = \
        Field(default=None, description="not supported (the recommender runs its own)")
    tool_choice: Annotated[Any, _TOOL_CHOICE] = None
    functions: Annotated[list[Any], WithJsonSchema({"type": "array", "maxItems": 0})] | None \
        = Field(default=None, description="not supported (the recommender runs its own)")
    function_call: Annotated[Any, _TOOL_CHOICE] = None
    response_format: Annotated[dict[str, Any], WithJsonSchema({
        "type": "object", "properties": {"type": {"const": "text"}}})] | None = Field(
        default=None, description="only text: the structured recommendations are in the "
                                  "answer's `recommendations` field")
    logprobs: Annotated[bool, WithJsonSchema({"const": False})] | None = Field(
        default=None, description="not available")
    stop: str | Annotated[list[str], MaxLen(4)] | None = None

    @field_validator("messages")
    @classmethod
    def _a_user_message(cls, messages: list[UserMessage | OtherMessage]
                        ) -> list[UserMessage | OtherMessage]:
        if not any(m.role == "user" for m in messages):
            raise _refuse("no_user_message", "the conversation has no user message")
        return messages

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise _refuse("unsupported_value",
                          f"n={n}: this endpoint returns one choice per request; n must be 1 "
                          "(send another request for another answer -- already shown items "
                          "are left out)")
        return n

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, tools: list[Any] | None) -> list[Any] | None:
        if tools:
            raise _refuse("unsupported_parameter", _NO_TOOLS)
        return tools

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, value: Any) -> Any:
        if value not in (None, "none", "auto"):
            raise _refuse("unsupported_parameter", _NO_TOOLS)
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, fmt: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = (fmt or {}).get("type", "text")
        if kind != "text":
            raise _refuse("unsupported_value",
                          f"response_format type {kind!r} is not supported: the answer is "
                          "text (markdown); the structured recommendations are in the "
                          "'recommendations' field")
        return fmt

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, logprobs: bool | None) -> bool | None:
        if logprobs:
            raise _refuse("unsupported_parameter",
                          "logprobs are not available from this service")
        return logprobs

    @field_validator("metadata")
    @classmethod
    def _session_id(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata and "session_id" in metadata and not (
                isinstance(metadata["session_id"], str) and _valid_id(metadata["session_id"])):
            raise _refuse("invalid_request", "metadata.session_id is not a valid session id")
        return metadata

    def turn_at(self) -> int:
        """Where this turn's message is: the last user message."""
        return max(i for i, m in enumerate(self.messages) if m.role == "user")


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content
                     if isinstance(part, dict) and part.get("type") == "text")


def _check_model(model: str) -> None:
    if model != MODEL_ID:
        raise OpenAIError(404, "model_not_found",
                          f"The model {model!r} does not exist; this service serves "
                          f"{MODEL_ID!r} (GET /v1/models)", "model")


def _explicit_session(request: Request, body: CompletionRequest) -> str | None:
    header = request.headers.get("x-session-id")
    if header:
        if not _valid_id(header):
            raise OpenAIError(400, "invalid_request",
                              "X-Session-ID is not a valid session id")
        return header
    value = (body.metadata or {}).get("session_id")
    if value:
        if not isinstance(value, str) or not _valid_id(value):
            raise OpenAIError(400, "invalid_request",
                              "metadata.session_id is not a valid session id",
                              "metadata.session_id")
        return value
    return None


def _valid_id(value: str) -> bool:
    return re.fullmatch(ID_PATTERN, value) is not None


def _budget(body: CompletionRequest) -> int | None:
    return body.max_completion_tokens or body.max_tokens


def _stops(body: CompletionRequest) -> list[str]:
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > 4:
        raise OpenAIError(400, "invalid_request", "stop: at most 4 sequences", "stop")
    return [s for s in stops if s]


def truncate_tokens(text: str, limit: int) -> str:
    """The longest prefix of ``text`` with at most ``limit`` tokens."""
    if count_tokens(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def recommendations_markdown(recs: list[dict[str, Any]]) -> str:
    """The list a chat UI shows (it has no cards): ``1. Title (year) — reason``, one numbered
    line each, the card's reason after the title."""
    lines = []
    for k, rec in enumerate(recs, 1):
        title = str(rec.get("title", "")).strip()
        year = rec.get("year")
        if year and not title.endswith(f"({year})"):
            title = f"{title} ({year})"
        reason = str(rec.get("reason") or "").strip()
        lines.append(f"{k}. {title}" + (f" — {reason}" if reason else ""))
    return "\n".join(lines)


def _with_list(reply: str, recs: list[dict[str, Any]]) -> str:
    listing = recommendations_markdown(recs)
    if not listing:
        return reply
    return f"{reply.rstrip()}\n\n{listing}" if reply.strip() else listing


def _prompt_tokens(body: CompletionRequest) -> int:
    return sum(4 + count_tokens(_text(m.content)) for m in body.messages)


def _usage(prompt: int, content: str) -> dict[str, int]:
    completion = count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


# ---- routes --------------------------------------------------------------------------------

def _model_object() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "recagent"}


@router.get("/v1/models", summary="OpenAI-compatible model list",
            responses=documented(401, 429, openai=True))
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_object()]}


@router.get("/v1/models/{model_id:path}", summary="OpenAI-compatible model detail",
            responses=documented(401, 404, 429, openai=True))
async def get_model(model_id: str) -> dict[str, Any]:
    _check_model(model_id)
    return _model_object()


class _Conversation:
    """Where this request's turn goes and how it is remembered for the next one."""

    def __init__(self, runtime: Any, request: Request, settings: Settings,
                 body: CompletionRequest) -> None:
        self.index = index_for(request.app.state, runtime)
        self.ttl_s = settings.session_ttl_s
        self.identity: Identity = identify(request, user_id=body.user)
        self.scope = self.identity.principal or "anon"
        self.prior = [(m.role, _text(m.content)) for m in body.messages[:body.turn_at()]
                      if m.role in ("user", "assistant")]

    async def resolve(self, runtime: Any, request: Request, body: CompletionRequest) -> str:
        explicit = _explicit_session(request, body)
        if explicit:
            await check_access(request, runtime, explicit, self.identity)
            return explicit
        if self.prior:
            found = await self.index.find(digest(self.scope, self.prior))
            if found and found != AMBIGUOUS:
                try:
                    await check_access(request, runtime, found, self.identity)
                    return found
                except (SessionAccessDenied, ApiError) as exc:
                    # not this caller's (or gone): start afresh, say nothing
                    if isinstance(exc, ApiError) and exc.status != 404:
                        raise
        session_id = new_session_id()
        await bind_new(request, runtime, session_id, self.identity)
        return session_id

    async def remember(self, message: str, content: str, session_id: str) -> None:
        """Index the conversation as the client will send it back. The turn is already
        saved: if the index cannot be written, the next request starts a new session --
        logged, not failed."""
        turns = [*self.prior, ("user", message), ("assistant", content)]
        try:
            await self.index.remember(digest(self.scope, turns), session_id, self.ttl_s)
        except ApiError as exc:
            log.warning("could not index the conversation: %s", exc.message)


@router.post("/v1/chat/completions", summary="OpenAI-compatible chat completion",
             responses={200: {"content": {"text/event-stream": {}}},
                        **documented(400, 401, 403, 404, 409, 413, 429, 503, openai=True),
                        "4XX": {"model": OpenAIErrorEnvelope,
                                "description": "every client error is in OpenAI's shape; "
                                               "invalid requests are 400 (never 422)"}})
async def chat_completions(
    body: CompletionRequest,
    request: Request,
    runtime: Any = Depends(get_runtime),
    settings: Settings = Depends(get_settings),
    metrics: Metrics = Depends(get_metrics),
    gate: TurnGate = Depends(get_gate),
) -> Any:
    _check_model(body.model or MODEL_ID)
    last = body.messages[body.turn_at()]
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    out = _Output(completion_id, int(time.time()), body.model or MODEL_ID, _budget(body),
                  _stops(body), bool(body.stream_options and body.stream_options.include_usage),
                  _prompt_tokens(body))

    instructions = [_text(m.content) for m in body.messages
                    if m.role in ("system", "developer")] + [_text(last.content)]
    if is_background(instructions):
        from agent.service import item_words

        answer = background_answer(instructions, item_words(settings).plural)
        if body.stream:
            return StreamingResponse(out.frames_of(answer), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        return JSONResponse(out.completion(answer))

    message = check_length(_text(last.content).strip(), settings, status=400)
    # the client's system/developer messages instruct the reply writer (where an LLM writes it)
    system = "\n".join(t for t in instructions[:-1] if t.strip()) or None
    conversation = _Conversation(runtime, request, settings, body)
    session_id = await conversation.resolve(runtime, request, body)

    if body.stream:
        events = runtime.agent.stream(message, session_id=session_id,
                                      user_id=conversation.identity.subject,
                                      instructions=system)
        frames = out.turn_frames(events, metrics, message, conversation)
        streamed = StreamingResponse(_gated(gate, frames), media_type="text/event-stream",
                                     headers={**SSE_HEADERS, "X-Session-ID": session_id})
        token_headers(request, conversation.identity, streamed)
        return streamed

    try:
        async with gate.slot():
            result: TurnResult = await runtime.agent.turn(
                message, session_id=session_id, user_id=conversation.identity.subject,
                instructions=system)
    except Exception:
        metrics.failed_turn("openai")
        raise
    metrics.observe_turn("openai", result.trace)
    recs = [r.model_dump() for r in result.recommendations]
    payload = out.completion(_with_list(result.reply, recs),
                             session_id=result.session_id, recommendations=recs)
    await conversation.remember(message, payload["choices"][0]["message"]["content"],
                                result.session_id)
    response = JSONResponse(payload, headers={"X-Session-ID": result.session_id})
    token_headers(request, conversation.identity, response)
    return response


async def _gated(gate: TurnGate, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async with gate.slot():
        async for frame in frames:
            yield frame


class _Output:
    """Renders one answer as a completion or as chunks, applying the token budget."""

    def __init__(self, completion_id: str, created: int, model: str, budget: int | None,
                 stops: list[str], include_usage: bool, prompt_tokens: int) -> None:
        self.id = completion_id
        self.created = created
        self.model = model
        self.budget = budget
        self.stops = stops
        self.include_usage = include_usage
        self.prompt_tokens = prompt_tokens

    def _fit(self, content: str) -> tuple[str, Literal["stop", "length"]]:
        """The content within the ``stop`` sequences (cut before the first) and the token
        budget (cut: ``length``)."""
        for stop in self.stops:
            at = content.find(stop)
            if at >= 0:
                content = content[:at]
        if self.budget is None:
            return content, "stop"
        cut = truncate_tokens(content, self.budget)
        return cut, "stop" if cut == content else "length"

    def completion(self, content: str, **extra: Any) -> dict[str, Any]:
        text, finish = self._fit(content)
        return {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": _usage(self.prompt_tokens, text),
            **extra,
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None,
              **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        if self.include_usage:
            data["usage"] = None
        return sse_event(None, data)

    def closing(self, sent: str) -> list[bytes]:
        frames = []
        if self.include_usage:
            frames.append(sse_event(None, {
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [],
                "usage": _usage(self.prompt_tokens, sent)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    async def frames_of(self, content: str) -> AsyncIterator[bytes]:
        text, finish = self._fit(content)
        yield self.chunk({"role": "assistant", "content": ""})
        if text:
            yield self.chunk({"content": text})
        yield self.chunk({}, finish)
        for frame in self.closing(text):
            yield frame

    async def turn_frames(self, events: AsyncIterator[Any], metrics: Metrics, message: str,
                          conversation: _Conversation) -> AsyncIterator[bytes]:
        """The turn as chunks. The reply text is held back until the agent's reply check
        has passed: a plain OpenAI stream cannot take text back, so a reply the check
        replaces (``delta`` with ``replace: true``) is never shown half-old, half-new."""
        yield self.chunk({"role": "assistant", "content": ""})
        pending: list[str] = []
        try:
            async for event in events:
                if event.type == "delta":
                    if event.data.get("replace"):
                        pending.clear()
                    pending.append(str(event.data.get("text", event.data.get("content", ""))))
                elif event.type == "done":
                    metrics.observe_turn("openai", event.data.get("trace"))
                    recs = list(event.data.get("recommendations") or [])
                    reply = "".join(pending) or str(event.data.get("reply", ""))
                    sent, finish = self._fit(_with_list(reply, recs))
                    if sent:
                        yield self.chunk({"content": sent})
                    session_id = str(event.data.get("session_id", ""))
                    await conversation.remember(message, sent, session_id)
                    yield self.chunk({}, finish, session_id=session_id, recommendations=recs)
                    break
                elif event.type == "error":
                    metrics.failed_turn("openai")
                    yield sse_event(None, _stream_error(event.data))
                    return
            else:
                return
        except Exception as exc:
            mapped = classify(exc)
            if mapped is None:
                log.exception("turn failed while streaming (openai)")
                mapped = ApiError(500, "internal_error", "internal error while answering")
            metrics.failed_turn("openai")
            metrics.errors.labels(mapped.code).inc()
            yield sse_event(None, openai_error_body(mapped.status, mapped.code,
                                                    mapped.message))
            return
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        for frame in self.closing(sent):
            yield frame


def _stream_error(data: dict[str, Any]) -> dict[str, Any]:
    mapped = from_agent_event(data)
    return openai_error_body(mapped.status, mapped.code, mapped.message)
