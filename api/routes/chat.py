"""``POST /v1/chat`` and ``POST /v1/chat/stream`` (Server-Sent Events)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from agent.types import TurnEvent, TurnResult
from api.admission import TurnGate
from api.deps import GateDep, MetricsDep, RuntimeDep, SettingsDep
from api.errors import V1, ApiError, classify, documented, error_body, from_agent_event
from api.identity import Identity, bind_new, check_access, identify, token_headers
from api.limits import cap_trace
from api.messages import ID_PATTERN, MessageText, check_length, integral
from api.metrics import Metrics
from api.sse import SSE_HEADERS, sse_event
from memory.session import new_session_id
from recagent.runtime import Runtime

router = APIRouter(tags=["chat"])
log = logging.getLogger("recagent.api")


class ChatRequest(BaseModel):
    message: MessageText = Field(
        description="what the user said (not blank; at most RECAGENT_MAX_MESSAGE_CHARS "
                    "characters)")
    session_id: str | None = Field(
        default=None, pattern=ID_PATTERN,
        description="continue this session (the `session_id` of an earlier answer); omit "
                    "to start one. An anonymous session (no `user_id`) also needs the token "
                    "its first answer returned, in the `X-Session-Token` header (or "
                    "`session_token`, or the cookie): without it the session is not found")
    user_id: str | None = Field(
        default=None, pattern=ID_PATTERN,
        description="the caller's user id: personalises with the user's history and makes "
                    "the session readable only with the same identity. With API keys or a "
                    "widget secret configured it must be proven: an API key, or `user_token`")
    user_token: str | None = Field(
        default=None, max_length=128,
        description="hex HMAC-SHA256 of `user_id` with the widget secret, made by the host "
                    "site's backend (or the `X-User-Token` header)")
    session_token: str | None = Field(
        default=None, max_length=128,
        description="the anonymous browser token returned when the session was started "
                    "(or the `X-Session-Token` header, or its cookie)")
    limit: Annotated[int, Ge(1), Le(100), BeforeValidator(integral)] | None = Field(
        default=None, strict=True,
        description="how many items to recommend this turn (1..100; default: the server's "
                    "recommendations_per_turn); only these count as shown")


async def _session_for(request: Request, runtime: Runtime, body: ChatRequest) -> tuple[
        Identity, str]:
    """The caller and the session its turn goes to: an existing one it may use (404
    otherwise), or a new id bound to it before the turn starts."""
    identity = identify(request, user_id=body.user_id, token=body.user_token,
                        session_token=body.session_token)
    if body.session_id:
        await check_access(request, runtime, body.session_id, identity)
        return identity, body.session_id
    session_id = new_session_id()
    await bind_new(request, runtime, session_id, identity)
    return identity, session_id


# what a turn may be refused with (before anything is saved)
TURN_ERRORS = documented(*V1, 403, 404, 409, 413, 422)


@router.post("/v1/chat", response_model=TurnResult, summary="One chat turn",
             responses=TURN_ERRORS)
async def chat(
    body: ChatRequest,
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    gate: GateDep,
) -> Response:
    message = check_length(body.message, settings)
    identity, session_id = await _session_for(request, runtime, body)
    try:
        async with gate.slot():
            result: TurnResult = await runtime.agent.turn(
                message, session_id=session_id, user_id=identity.subject, limit=body.limit)
    except Exception:
        metrics.failed_turn("chat")
        raise
    metrics.observe_turn("chat", result.trace)
    result = result.model_copy(update={"trace": cap_trace(result.trace)})
    # already a validated TurnResult: serialize once, skip FastAPI's re-validation
    response = Response(result.model_dump_json(), media_type="application/json",
                        headers={"X-Session-ID": result.session_id})
    token_headers(request, identity, response)
    return response


@router.post(
    "/v1/chat/stream",
    summary="One chat turn, streamed as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "events `plan`, `tool`, `recommendations`, `delta` "
                                    "(reply text), then `done` (the whole TurnResult) or "
                                    "`error` (`{error: {code, message}}`)"},
               **TURN_ERRORS},
)
async def chat_stream(
    body: ChatRequest,
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    gate: GateDep,
) -> StreamingResponse:
    # everything that can be refused is refused here, before the stream starts (a real
    # HTTP status); afterwards failures arrive as an `error` event
    message = check_length(body.message, settings)
    identity, session_id = await _session_for(request, runtime, body)
    events = runtime.agent.stream(message, session_id=session_id, user_id=identity.subject,
                                  limit=body.limit)
    response = StreamingResponse(
        stream_turn(events, metrics, "stream", gate),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, "X-Session-ID": session_id},
    )
    token_headers(request, identity, response)
    return response


def error_event_data(data: dict[str, Any]) -> dict[str, Any]:
    """The agent's in-band error as the API's envelope ``{error: {code, message}}``."""
    mapped = from_agent_event(data)
    return error_body(mapped.code, mapped.message)


async def stream_turn(events: AsyncIterator[TurnEvent], metrics: Metrics, endpoint: str,
                      gate: TurnGate) -> AsyncIterator[bytes]:
    """Frame the agent's events; a failure becomes one final ``error`` event."""
    async with gate.slot():
        async for frame in _frames(events, metrics, endpoint):
            yield frame


async def _frames(events: AsyncIterator[TurnEvent], metrics: Metrics,
                  endpoint: str) -> AsyncIterator[bytes]:
    finished = False
    try:
        async for event in events:
            data = event.data
            if event.type in ("plan", "tool"):
                data = cap_trace(data)
            if event.type == "done":
                finished = True
                metrics.observe_turn(endpoint, data.get("trace"))
                data = {**data, "trace": cap_trace(data.get("trace") or {})}
            elif event.type == "error":
                finished = True
                data = error_event_data(data)
                metrics.failed_turn(endpoint)
                metrics.errors.labels(data["error"]["code"]).inc()
            yield sse_event(event.type, data)
    except Exception as exc:  # the stream has started: report in-band
        if finished:
            raise
        mapped = classify(exc)
        if mapped is None:
            log.exception("turn failed while streaming")
            mapped = ApiError(500, "internal_error", "internal error while answering")
        metrics.failed_turn(endpoint)
        metrics.errors.labels(mapped.code).inc()
        yield sse_event("error", error_body(mapped.code, mapped.message))
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
