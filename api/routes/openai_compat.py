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

The answer's content is the reply followed by a short markdown list of the recommendations
(title, year); the structured list rides along as the extra fields ``recommendations`` and
``session_id``; the session id is also in the ``X-Session-ID`` header (streams included).

Parameters: ``max_tokens`` / ``max_completion_tokens`` truncate the content
(``finish_reason: "length"``); ``stream_options.include_usage`` adds the final usage chunk;
``stop`` cuts the content before the first stop sequence;
``n`` must be 1; ``temperature`` / ``top_p`` / ``seed`` / ``user`` are accepted (the offline
planner is deterministic, they do not change its answer); client ``tools`` /
``tool_choice`` / ``functions``, ``logprobs`` and any ``response_format`` other than text are
refused (400). An unknown model is 404 ``model_not_found``. Every error of these routes is
OpenAI's shape ``{"error": {"message", "type", "code", "param"}}``.

A UI's background prompt (title / tag generation, :mod:`api.openai_background`) gets a short
plain answer and touches no session.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent.tokens import count_tokens
from agent.types import TurnResult
from api.admission import TurnGate
from api.deps import check_message, get_gate, get_metrics, get_runtime, get_settings
from api.errors import ApiError, classify, count_error, from_agent_event
from api.identity import Identity, bind_new, check_access, identify, token_headers
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


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "invalid_request_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error_body(status: int, code: str, message: str,
                      param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _error_type(status), "code": code,
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
        return OpenAIError(400, "malformed_json", "the request body is not valid JSON")
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
        f"{e.get('msg', 'invalid')}" for e in errors[:5]) or "invalid request"
    return OpenAIError(400, "invalid_request", message, param)


class OpenAIRoute(APIRoute):
    """Every error of these routes -- validation included -- in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _error_response(request, _validation_error(exc))
            except Exception as exc:
                mapped = classify(exc)
                if mapped is None:
                    raise
                return _error_response(request, mapped)

        return handle


router = APIRouter(tags=["openai"], route_class=OpenAIRoute)


# ---- request -------------------------------------------------------------------------------

class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, pattern=ID_PATTERN)
    n: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    metadata: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    stop: str | list[str] | None = None


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


def _check_parameters(body: CompletionRequest) -> None:
    """Refuse what a recommender cannot honour instead of silently ignoring it."""
    if body.n is not None and body.n > 1:
        raise OpenAIError(400, "unsupported_value",
                          f"n={body.n}: this endpoint returns one choice per request; n must "
                          "be 1 (send another request for another answer -- already shown "
                          "items are left out)", "n")
    if body.tools or body.functions:
        param = "tools" if body.tools else "functions"
        raise OpenAIError(400, "unsupported_parameter",
                          f"{param}: client-side tools (function calling) are not supported; "
                          "the recommender runs its own tools", param)
    for name, value in (("tool_choice", body.tool_choice),
                        ("function_call", body.function_call)):
        if value not in (None, "none", "auto"):
            raise OpenAIError(400, "unsupported_parameter",
                              f"{name}: client-side tools (function calling) are not "
                              "supported; the recommender runs its own tools", name)
    fmt = (body.response_format or {}).get("type", "text")
    if fmt != "text":
        raise OpenAIError(400, "unsupported_value",
                          f"response_format type {fmt!r} is not supported: the answer is "
                          "text (markdown); the structured recommendations are in the "
                          "'recommendations' field", "response_format")
    if body.logprobs:
        raise OpenAIError(400, "unsupported_parameter",
                          "logprobs are not available from this service", "logprobs")


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
    """The short list a chat UI shows: ``- Title (year)``, one line each."""
    lines = []
    for rec in recs:
        title = str(rec.get("title", "")).strip()
        year = rec.get("year")
        if year and not title.endswith(f"({year})"):
            title = f"{title} ({year})"
        lines.append(f"- {title}")
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


@router.get("/v1/models", summary="OpenAI-compatible model list")
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_object()]}


@router.get("/v1/models/{model_id:path}", summary="OpenAI-compatible model detail")
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
        self.prior = [(m.role, _text(m.content)) for m in body.messages[:-1]
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
             responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(
    body: CompletionRequest,
    request: Request,
    runtime: Any = Depends(get_runtime),
    settings: Settings = Depends(get_settings),
    metrics: Metrics = Depends(get_metrics),
    gate: TurnGate = Depends(get_gate),
) -> Any:
    _check_model(body.model or MODEL_ID)
    _check_parameters(body)
    last = body.messages[-1]
    if last.role != "user":
        raise OpenAIError(422, "no_user_message", "the last message must have role 'user'",
                          "messages")
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

    message = check_message(_text(last.content), settings)
    # the client's system/developer messages instruct the reply writer (where an LLM writes it)
    system = "\n".join(t for t in instructions[:-1] if t.strip()) or None
    conversation = _Conversation(runtime, request, settings, body)
    session_id = await conversation.resolve(runtime, request, body)

    if body.stream:
        events = runtime.agent.stream(message, session_id=session_id,
                                      user_id=conversation.identity.user_id,
                                      instructions=system)
        frames = out.turn_frames(events, metrics, message, conversation)
        streamed = StreamingResponse(_gated(gate, frames), media_type="text/event-stream",
                                     headers={**SSE_HEADERS, "X-Session-ID": session_id})
        token_headers(request, conversation.identity, streamed)
        return streamed

    try:
        async with gate.slot():
            result: TurnResult = await runtime.agent.turn(
                message, session_id=session_id, user_id=conversation.identity.user_id,
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
