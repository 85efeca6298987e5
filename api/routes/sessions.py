"""Sessions: read, forget, feedback. A session is reachable only by the identity it is bound
to (``api.identity``); a foreign session answers exactly like an unknown one (404)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, call_blocking
from api.errors import V1, ApiError, documented, session_not_found
from api.identity import Identity, check_access, identify
from api.messages import ID_PATTERN
from memory.session import Feedback, FeedbackSignal, Message, Session, SessionProfile
from recagent.runtime import Runtime

router = APIRouter(tags=["sessions"])

SessionId = Path(pattern=ID_PATTERN, description="the session id from a chat answer")
UserIdQuery = Query(default=None, pattern=ID_PATTERN,
                    description="required when the session belongs to a user")


class SessionView(BaseModel):
    id: str
    user_id: str | None
    created_at: float
    updated_at: float
    messages: list[Message]
    summary: str
    shown: list[str]
    feedback: list[Feedback]
    profile: SessionProfile


class FeedbackRequest(BaseModel):
    item_id: str = Field(min_length=1, max_length=128)
    signal: FeedbackSignal
    user_id: str | None = Field(default=None, pattern=ID_PATTERN)
    user_token: str | None = Field(default=None, max_length=128)
    session_token: str | None = Field(default=None, max_length=128)


class FeedbackResponse(BaseModel):
    session_id: str
    item_id: str
    signal: FeedbackSignal
    liked: list[str]
    disliked: list[str]


async def _checked(request: Request, runtime: Runtime, session_id: str,
                   user_id: str | None) -> tuple[Identity, Session]:
    identity = identify(request, user_id=user_id)
    return identity, await check_access(request, runtime, session_id, identity)


@router.get("/v1/sessions/{session_id}", response_model=SessionView, summary="Read a session",
            responses=documented(*V1, 403, 404, 422))
async def read_session(
    request: Request,
    runtime: RuntimeDep,
    session_id: str = SessionId,
    user_id: str | None = UserIdQuery,
) -> SessionView:
    identity, session = await _checked(request, runtime, session_id, user_id)
    view = SessionView.model_validate(session.model_dump())
    if view.user_id is not None and view.user_id == identity.subject:
        view.user_id = identity.user_id  # the caller's own id, not the tenant-scoped one
    return view


@router.delete("/v1/sessions/{session_id}", status_code=204, summary="Forget a session",
               responses=documented(*V1, 403, 404, 409, 422))
async def forget_session(
    request: Request,
    runtime: RuntimeDep,
    session_id: str = SessionId,
    user_id: str | None = UserIdQuery,
) -> Response:
    identity, _ = await _checked(request, runtime, session_id, user_id)
    if not await runtime.agent.forget(session_id, user_id=identity.subject):
        raise session_not_found()
    return Response(status_code=204)


@router.post("/v1/sessions/{session_id}/feedback", response_model=FeedbackResponse,
             summary="Like, dislike, click or not-interested on a recommended item",
             responses=documented(*V1, 403, 404, 409, 413, 422))
async def feedback(
    body: FeedbackRequest,
    request: Request,
    runtime: RuntimeDep,
    session_id: str = SessionId,
) -> FeedbackResponse:
    identity = identify(request, user_id=body.user_id, token=body.user_token,
                        session_token=body.session_token)
    known = await call_blocking(runtime.catalog.has, body.item_id)
    if not known:
        raise ApiError(404, "item_not_found", f"no item {body.item_id!r} in the catalog")
    await check_access(request, runtime, session_id, identity)
    session = await runtime.agent.feedback(session_id, body.item_id, body.signal,
                                           user_id=identity.subject)
    profile = session.profile
    return FeedbackResponse(session_id=session_id, item_id=body.item_id, signal=body.signal,
                            liked=list(profile.liked), disliked=list(profile.disliked))
