"""The save step: the turn's changes written into its session through the one
compare-and-set writer (:func:`memory.session.update_session`), a known user's durable
profile merged after, and the turn's plan remembered for learning demonstrations."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from agent.turn.load import store_errors
from agent.turn.state import SessionChanges
from memory.profiles import ProfileStore
from memory.session import Session, SessionStore, update_session

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3  # a turn's saves before a lost race is a SessionConflict
REMEMBERED_PLANS = 10_000  # (request, plan) of recent turns, for learning demonstrations


async def save_turn(
    sessions: SessionStore, session: Session, changes: SessionChanges, owner: str | None
) -> Session:
    """The session as loaded with the turn's changes, saved (compare-and-set); a lost race
    re-applies them to the fresh session, :data:`SAVE_ATTEMPTS` saves in all, then
    :class:`agent.errors.SessionConflict`. The loaded ``session`` is left as it was."""
    with store_errors():
        return await update_session(sessions, session.id, changes.apply, user_id=owner,
                                    current=session, attempts=SAVE_ATTEMPTS)


async def merge_profile(
    profiles: ProfileStore | None, owner: str | None, saved: Session, changes: SessionChanges
) -> None:
    """A known user's likes, dislikes and expectations of this turn into the durable
    profile; a failure is logged (the turn is saved; the profile catches up later)."""
    if (
        owner is not None
        and profiles is not None
        and (changes.added_likes or changes.added_dislikes or changes.expectations is not None)
    ):
        try:
            await profiles.amerge(owner, saved.profile)
        except Exception as exc:  # the turn is saved; the durable profile catches up later
            log.warning("profile merge for %s failed: %s", owner, exc)


class RememberedPlans:
    """(request, plan) of each session's last turn, bounded: a like of one of its cards
    makes it a learned demonstration."""

    def __init__(self, capacity: int = REMEMBERED_PLANS) -> None:
        self.capacity = capacity
        self._plans: OrderedDict[str, tuple[str, list[dict[str, Any]]]] = OrderedDict()

    def remember(self, session_id: str, message: str, calls: list[dict[str, Any]]) -> None:
        self._plans[session_id] = (
            message, [c for c in calls if isinstance(c.get("args"), dict)])
        self._plans.move_to_end(session_id)
        while len(self._plans) > self.capacity:
            self._plans.popitem(last=False)

    def get(self, session_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        return self._plans.get(session_id)

    def forget(self, session_id: str) -> None:
        self._plans.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._plans)
