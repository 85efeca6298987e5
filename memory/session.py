"""What a session holds, and the session store protocol (Redis and in-process twins)."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

_jitter = random.Random()  # back-off pauses; leaves the global random state alone

FeedbackSignal = Literal["like", "dislike", "click", "not_interested"]


def new_session_id() -> str:
    """Unguessable session id (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    ts: float = Field(default_factory=time.time)
    recommendations: list[str] = Field(default_factory=list)  # item ids shown with the reply
    # the reason each recommendation's card gave, in the same order (a client rebuilding the
    # cards after a reload shows the same text)
    reasons: list[str] = Field(default_factory=list)


class Feedback(BaseModel):
    item_id: str
    signal: FeedbackSignal
    ts: float = Field(default_factory=time.time)


class Expectations(BaseModel):
    wanted_categories: list[str] = Field(default_factory=list)
    avoided_categories: list[str] = Field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    popularity: Literal["popular", "niche"] | None = None
    notes: list[str] = Field(default_factory=list)

    def want(self, category: str) -> None:
        if category in self.avoided_categories:
            self.avoided_categories.remove(category)
        if category not in self.wanted_categories:
            self.wanted_categories.append(category)

    def avoid(self, category: str) -> None:
        if category in self.wanted_categories:
            self.wanted_categories.remove(category)
        if category not in self.avoided_categories:
            self.avoided_categories.append(category)


class SessionProfile(BaseModel):
    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)  # said to be seen already: not recommended
    expectations: Expectations = Field(default_factory=Expectations)

    def saw(self, item_id: str) -> None:
        if item_id not in self.seen:
            self.seen.append(item_id)

    def like(self, item_id: str) -> None:
        if item_id in self.disliked:
            self.disliked.remove(item_id)
        if item_id not in self.liked:
            self.liked.append(item_id)

    def dislike(self, item_id: str) -> None:
        if item_id in self.liked:
            self.liked.remove(item_id)
        if item_id not in self.disliked:
            self.disliked.append(item_id)


class CollapsedHistory(BaseModel):
    """What compaction remembers of the messages it collapsed (rendered into ``summary``)."""

    messages: int = 0  # how many messages were collapsed so far
    asked: list[str] = Field(default_factory=list)  # the user's requests, shortened, newest last
    recommended: list[str] = Field(default_factory=list)  # item ids shown in collapsed turns


class Session(BaseModel):
    id: str = Field(default_factory=new_session_id)
    user_id: str | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    messages: list[Message] = Field(default_factory=list)
    summary: str = ""  # older turns collapsed
    shown: list[str] = Field(default_factory=list)  # every item ever recommended, in order
    feedback: list[Feedback] = Field(default_factory=list)
    profile: SessionProfile = Field(default_factory=SessionProfile)
    version: int = 0  # compare-and-set: save() succeeds only if the stored version matches
    collapsed: CollapsedHistory = Field(default_factory=CollapsedHistory)  # see memory.compaction

    def fork(self) -> Session:
        """A copy to change without changing this one, much cheaper than
        ``model_copy(deep=True)``: the lists a turn appends to are new lists sharing their
        elements (messages and feedback are only ever added, never edited in place), and
        the parts changed in place (profile, expectations, collapsed history) are copies
        with new lists of strings."""
        p, e, c = self.profile, self.profile.expectations, self.collapsed
        expectations = e.model_copy(update={
            "wanted_categories": list(e.wanted_categories),
            "avoided_categories": list(e.avoided_categories), "notes": list(e.notes)})
        return self.model_copy(update={
            "messages": list(self.messages),
            "shown": list(self.shown),
            "feedback": list(self.feedback),
            "profile": p.model_copy(update={
                "liked": list(p.liked), "disliked": list(p.disliked), "seen": list(p.seen),
                "expectations": expectations}),
            "collapsed": c.model_copy(update={"asked": list(c.asked),
                                              "recommended": list(c.recommended)}),
        })

    @property
    def last_recommendations(self) -> list[str]:
        for msg in reversed(self.messages):
            if msg.role == "assistant" and msg.recommendations:
                return msg.recommendations
        return []

    def add_feedback(self, feedback: Feedback) -> None:
        """Record one feedback event; like/dislike (and not_interested) update the profile."""
        self.feedback.append(feedback)
        if feedback.signal == "like":
            self.profile.like(feedback.item_id)
        elif feedback.signal in ("dislike", "not_interested"):
            self.profile.dislike(feedback.item_id)


class SessionError(RuntimeError):
    """The session store cannot be used (unreachable, misconfigured)."""


class VersionConflict(SessionError):
    """Another writer saved the session first (compare-and-set lost)."""


class SessionAccessDenied(SessionError):
    """The session belongs to another user (or to a user, and no user was given)."""


class SessionNotFound(KeyError):
    pass


def check_owner(stored_owner: str | None, session_id: str, user_id: str | None) -> None:
    """The ownership rule, shared by every store.

    A session without an owner (``user_id is None``) is readable by whoever holds its id
    (the id is a 192-bit secret). A session with an owner is readable only by passing that
    same ``user_id``; anything else -- another user, or no user at all -- is refused.
    """
    if stored_owner is not None and stored_owner != user_id:
        raise SessionAccessDenied(f"session {session_id[:6]}... belongs to another user")


@runtime_checkable
class SessionStore(Protocol):
    async def get(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        """The stored session, or None (unknown, expired, or reset because corrupt).

        Refreshes the TTL. Raises :class:`SessionAccessDenied` when the session is owned
        by someone other than ``user_id`` (see :func:`check_owner`), :class:`SessionError`
        when the backend is unreachable."""

    async def save(self, session: Session) -> Session:
        """Compare-and-set on ``session.version``; returns the stored copy (version + 1).

        The stored version of an absent session is 0, so a new session saves with
        ``version == 0``. Compaction (``memory.compaction``) is applied first. An owner-less
        stored session may be claimed by saving it with a ``user_id``; an owned one can not
        change hands (:class:`SessionAccessDenied`). Raises :class:`VersionConflict` if the
        stored version differs."""

    async def delete(self, session_id: str, *, user_id: str | None = None) -> bool:
        """Remove the session; False if there was none. Same ownership rule as :meth:`get`."""

    async def list_for_user(self, user_id: str) -> list[str]:
        """Ids of the user's live sessions, most recently saved first (expired ones pruned)."""

    async def ping(self) -> None:
        """Raise :class:`SessionError` when the backend is unreachable."""

    async def aclose(self) -> None: ...


CAS_ATTEMPTS = 10  # saves one write tries before the lost race is the caller's


async def update_session(
    store: SessionStore,
    session_id: str,
    change: Callable[[Session], None],
    *,
    user_id: str | None = None,
    current: Session | None = None,
    create: bool = True,
    attempts: int = CAS_ATTEMPTS,
) -> Session:
    """The one compare-and-set writer of sessions: apply ``change`` (it mutates the session
    in place) and save; a lost race is re-applied to the fresh session. Every writer (a
    turn, feedback) saves through here, so they all fail the same way.

    The first attempt changes a fork of ``current`` when the caller holds the session
    already (a turn: the copy it planned on; it may be new, version 0), else the stored one
    (loaded with ``user_id``). After a :class:`VersionConflict` the session is reloaded and
    ``change`` applied again, after a short jittered pause, up to ``attempts`` saves in all.

    The error path, decided once: the store's errors go to the caller unchanged --
    :class:`VersionConflict` when the last attempt lost too, :class:`SessionAccessDenied`
    for another user's session, :class:`SessionError` when the store is down, and
    :class:`SessionNotFound` for an absent session without ``create`` (with it, an absent
    session starts under ``session_id``, owned by ``user_id``). The caller maps them to its
    own errors (the agent: ``agent.errors``); ``current`` itself is never changed."""
    session = current.fork() if current is not None else None
    for attempt in range(attempts):
        if session is None:
            session = await store.get(session_id, user_id=user_id)
        if session is None:
            if not create:
                raise SessionNotFound(session_id)
            session = Session(id=session_id, user_id=user_id)
        change(session)
        try:
            return await store.save(session)
        except VersionConflict:
            if attempt == attempts - 1:
                raise
            session = None  # reload: the race was lost to a newer version
            await asyncio.sleep(_jitter.uniform(0, 0.002 * (attempt + 1)))
    raise AssertionError("unreachable")  # pragma: no cover
