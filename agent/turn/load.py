"""The load step: the request checked, the session loaded (or started, with a known user's
durable profile), and the one mapping of the session store's errors to the agent's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agent.errors import (
    InvalidRequest,
    SessionConflict,
    SessionForbidden,
    SessionUnknown,
    StoreUnavailable,
)
from agent.messages import checked_message
from memory.profiles import ProfileStore
from memory.session import (
    Session,
    SessionAccessDenied,
    SessionError,
    SessionNotFound,
    SessionStore,
    VersionConflict,
)
from recagent.settings import Settings

MAX_LIMIT = 100  # most items one turn may recommend (the API validates the same range)


@contextmanager
def store_errors() -> Iterator[None]:
    """The session store's errors as the agent's: another user's session -> SessionForbidden,
    an absent one -> SessionUnknown, a compare-and-set lost on every attempt ->
    SessionConflict, a store that cannot be used -> StoreUnavailable."""
    try:
        yield
    except SessionNotFound:
        raise SessionUnknown() from None
    except SessionAccessDenied as exc:
        raise SessionForbidden(str(exc)) from None
    except VersionConflict:
        raise SessionConflict("the session was changed by another request; retry") from None
    except SessionError as exc:
        raise StoreUnavailable(str(exc)) from None


def checked_request(settings: Settings, message: str, limit: int | None) -> tuple[str, int]:
    """The turn's message (stripped) and item count; :class:`InvalidRequest` if bad."""
    if limit is None:
        limit = settings.recommendations_per_turn
    elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer in 1..{MAX_LIMIT}",
                             code="invalid_limit")
    return checked_message(message, settings.max_message_chars), limit


async def load_session(
    sessions: SessionStore,
    profiles: ProfileStore | None,
    session_id: str | None,
    user_id: str | None,
) -> Session:
    """The stored session; else a new one (under ``session_id`` when given, not stored yet)
    starting from the user's durable profile when the user is known."""
    with store_errors():
        session = await sessions.get(session_id, user_id=user_id) if session_id else None
    if session is None:
        session = (
            Session(user_id=user_id)
            if session_id is None
            else Session(id=session_id, user_id=user_id)
        )
        if user_id is not None and profiles is not None:
            profile = await profiles.aget(user_id)
            session.profile = profile.to_session_profile()
    return session
