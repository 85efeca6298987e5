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

The parts: the request model (:mod:`api.openai_request`), the errors in OpenAI's shape
(:mod:`api.openai_errors`), which session a request continues
(:mod:`api.openai_conversations`) and the answer, whole or streamed (:mod:`api.openai_output`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from agent.service import item_words
from agent.types import TurnResult
from api.admission import TurnGate
from api.deps import GateDep, MetricsDep, RuntimeDep, SettingsDep
from api.errors import OpenAIErrorEnvelope, documented
from api.identity import token_headers
from api.messages import check_length
from api.openai_background import background_answer, is_background
from api.openai_conversations import Conversation
from api.openai_errors import OpenAIError, OpenAIRoute, openai_error_body
from api.openai_output import Output, recommendations_markdown, truncate_tokens, with_list
from api.openai_request import (
    MODEL_CREATED,
    MODEL_ID,
    CompletionRequest,
    check_model,
    text_of,
)
from api.sse import SSE_HEADERS

# the facade's public names, wherever they are defined
__all__ = ["MODEL_ID", "CompletionRequest", "OpenAIError", "OpenAIRoute", "chat_completions",
           "get_model", "list_models", "openai_error_body", "recommendations_markdown",
           "router", "truncate_tokens"]

router = APIRouter(tags=["openai"], route_class=OpenAIRoute)


def _model_object() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "recagent"}


@router.get("/v1/models", summary="OpenAI-compatible model list",
            responses=documented(401, 429, openai=True))
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_object()]}


@router.get("/v1/models/{model_id:path}", summary="OpenAI-compatible model detail",
            responses=documented(401, 404, 429, openai=True))
async def get_model(model_id: str) -> dict[str, Any]:
    check_model(model_id)
    return _model_object()


# response_model: the answer is any JSON (a completion) or an event stream; the route builds
# the Response itself
@router.post("/v1/chat/completions", summary="OpenAI-compatible chat completion",
             response_model=Any, responses={200: {"content": {"text/event-stream": {}}},
                        **documented(400, 401, 403, 404, 409, 413, 429, 503, openai=True),
                        "4XX": {"model": OpenAIErrorEnvelope,
                                "description": "every client error is in OpenAI's shape; "
                                               "invalid requests are 400 (never 422)"}})
async def chat_completions(
    body: CompletionRequest,
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    gate: GateDep,
) -> Response:
    check_model(body.model or MODEL_ID)
    last = body.messages[body.turn_at()]
    out = Output.for_request(body)

    instructions = [text_of(m.content) for m in body.messages
                    if m.role in ("system", "developer")] + [text_of(last.content)]
    if is_background(instructions):
        answer = background_answer(instructions, item_words(settings).plural)
        if body.stream:
            return StreamingResponse(out.frames_of(answer), media_type="text/event-stream",
                                     headers=SSE_HEADERS)
        return JSONResponse(out.completion(answer))

    message = check_length(text_of(last.content).strip(), settings, status=400)
    # the client's system/developer messages instruct the reply writer (where an LLM writes it)
    system = "\n".join(t for t in instructions[:-1] if t.strip()) or None
    conversation = Conversation(runtime, request, settings, body)
    session_id = await conversation.resolve(body)

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
    payload = out.completion(with_list(result.reply, recs),
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
