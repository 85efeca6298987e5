"""Recording feedback: into the session (with retry on a lost race) and the long-term profile."""

from __future__ import annotations

from memory.profiles import ProfileStore
from memory.session import Feedback, Session, SessionStore, update_session


async def record_feedback(
    sessions: SessionStore,
    profiles: ProfileStore | None,
    session_id: str,
    feedback: Feedback,
    *,
    user_id: str | None = None,
) -> Session:
    """Append ``feedback`` to the session (its profile's likes/dislikes follow) and, for a known
    ``user_id``, merge it into the durable profile. Returns the saved session.

    The session is written through :func:`memory.session.update_session`, the one
    compare-and-set writer, so feedback fails as a turn's save does: it must exist
    (:class:`memory.session.SessionNotFound` otherwise); ownership is checked as in
    :meth:`SessionStore.get`; a race lost on every attempt is a :class:`VersionConflict`.
    The profile is merged only after the session save succeeded, so a refused or failed save
    leaves the profile untouched."""
    saved = await update_session(
        sessions, session_id, lambda s: s.add_feedback(feedback), user_id=user_id, create=False
    )
    if profiles is not None and user_id is not None:
        await profiles.amerge(user_id, feedback)
    return saved
