"""Long-term user profiles: durable, per ``user_id``, in the SQL database (``user_profiles``).

Independent of the session store, so a profile survives a Redis flush and a restart. Two
kinds of updates merge into it (:meth:`ProfileStore.merge`):

- a :class:`SessionProfile` (stated likes/dislikes and expectations of a session) -- idempotent,
  merge it as often as you like (e.g. after every turn);
- :class:`Feedback` events (one, or a sequence in the order they happened) -- each is counted
  once in ``counts``, so merge each event exactly once.

The newest verdict wins: a later dislike removes an earlier like and vice versa;
``not_interested`` counts as a dislike, ``click`` is only counted. Lists keep their most recent
``MAX_ITEMS`` entries. Each merge is one transaction that locks the user's row
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent merges
from several threads or processes never lose an update.

The methods are synchronous (SQLAlchemy); async code uses the ``a*`` wrappers, which run them
in a worker thread.

Tenants: user ids are per tenant (``api.identity``: an API key's tenant). The service keeps a
user of the default tenant under their id and a user of another tenant under
:func:`tenant_user` (``shop-b/alice``), so ``alice`` of one tenant never reads or feeds the
profile of ``alice`` of another. A key longer than the column (``ID_LEN``) is stored as its
prefix plus a digest of the whole (:func:`profile_key`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from memory.session import Expectations, Feedback, SessionProfile
from memory.tables import ID_LEN, user_profiles

log = logging.getLogger(__name__)

MAX_ITEMS = 1000  # each of liked / disliked
MAX_CATEGORIES = 100
MAX_NOTES = 50

ProfileUpdate = SessionProfile | Feedback | Sequence[Feedback]

_TABLE: Table = user_profiles


class LongTermProfile(BaseModel):
    user_id: str
    liked: list[str] = Field(default_factory=list)  # oldest first
    disliked: list[str] = Field(default_factory=list)
    expectations: Expectations = Field(default_factory=Expectations)
    counts: dict[str, int] = Field(default_factory=dict)  # feedback events per signal
    updated_at: datetime | None = None  # None: nothing stored yet

    def to_session_profile(self) -> SessionProfile:
        """A starting profile for a new session of this user."""
        return SessionProfile(
            liked=list(self.liked),
            disliked=list(self.disliked),
            expectations=self.expectations.model_copy(deep=True),
        )

    # -- merging (pure; the store wraps it in a transaction) ------------------------------

    def like(self, item_id: str) -> None:
        _move_to_end(self.liked, item_id)
        if item_id in self.disliked:
            self.disliked.remove(item_id)

    def dislike(self, item_id: str) -> None:
        _move_to_end(self.disliked, item_id)
        if item_id in self.liked:
            self.liked.remove(item_id)

    def apply(self, change: ProfileUpdate) -> None:
        if isinstance(change, SessionProfile):
            for item_id in change.liked:
                self.like(item_id)
            for item_id in change.disliked:
                self.dislike(item_id)
            self._merge_expectations(change.expectations)
        elif isinstance(change, Feedback):
            self._feedback(change)
        else:
            for event in change:
                self._feedback(event)
        self.liked = self.liked[-MAX_ITEMS:]
        self.disliked = self.disliked[-MAX_ITEMS:]

    def _feedback(self, event: Feedback) -> None:
        self.counts[event.signal] = self.counts.get(event.signal, 0) + 1
        if event.signal == "like":
            self.like(event.item_id)
        elif event.signal in ("dislike", "not_interested"):
            self.dislike(event.item_id)

    def _merge_expectations(self, new: Expectations) -> None:
        e = self.expectations
        for cat in new.wanted_categories:
            _move_to_end(e.wanted_categories, cat)
            if cat in e.avoided_categories:
                e.avoided_categories.remove(cat)
        for cat in new.avoided_categories:
            _move_to_end(e.avoided_categories, cat)
            if cat in e.wanted_categories:
                e.wanted_categories.remove(cat)
        if new.year_min is not None:
            e.year_min = new.year_min
        if new.year_max is not None:
            e.year_max = new.year_max
        if new.popularity is not None:
            e.popularity = new.popularity
        for note in new.notes:
            _move_to_end(e.notes, note)
        e.wanted_categories = e.wanted_categories[-MAX_CATEGORIES:]
        e.avoided_categories = e.avoided_categories[-MAX_CATEGORIES:]
        e.notes = e.notes[-MAX_NOTES:]


def _move_to_end(items: list[str], value: str) -> None:
    if value in items:
        items.remove(value)
    items.append(value)


DEFAULT_TENANT = "default"
TENANT_SEPARATOR = "/"  # in no user id (A-Za-z0-9_-.:@) and no tenant name


def tenant_user(tenant: str, user_id: str) -> str:
    """The id a user of ``tenant`` is kept under: ``user_id`` itself in the default tenant
    (the catalog's own users: their interaction history personalises them), else
    ``tenant/user_id`` -- another tenant's ``alice`` is another person."""
    if tenant == DEFAULT_TENANT:
        return user_id
    return f"{tenant}{TENANT_SEPARATOR}{user_id}"


def profile_key(user_id: str) -> str:
    """The row key of a user's profile: the id, or -- when longer than the column -- its
    prefix and a digest of the whole (``#`` is in no id, so no id can collide with it)."""
    if len(user_id) <= ID_LEN:
        return user_id
    digest = hashlib.sha256(user_id.encode()).hexdigest()[:32]
    return f"{user_id[:ID_LEN - 33]}#{digest}"


def _check_user(user_id: str) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("user_id must be a non-empty string")
    return profile_key(user_id)


class ProfileStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def _parse(self, user_id: str, data: Any, updated_at: datetime | None) -> LongTermProfile:
        try:
            stored = dict(data or {})
            stored.pop("user_id", None)
            stored.pop("updated_at", None)
            return LongTermProfile(user_id=user_id, updated_at=updated_at, **stored)
        except (ValidationError, TypeError, ValueError) as exc:
            log.warning(
                "profile of user %r is not readable (%s); starting it afresh",
                user_id,
                str(exc).splitlines()[0],
            )
            return LongTermProfile(user_id=user_id, updated_at=updated_at)

    @staticmethod
    def _data(profile: LongTermProfile) -> dict[str, Any]:
        return profile.model_dump(mode="json", exclude={"user_id", "updated_at"})

    def get(self, user_id: str) -> LongTermProfile:
        """The stored profile; an empty one (``updated_at is None``) for an unknown user."""
        key = _check_user(user_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.data, _TABLE.c.updated_at).where(_TABLE.c.user_id == key)
            ).first()
        if row is None:
            return LongTermProfile(user_id=user_id)
        return self._parse(user_id, row.data, row.updated_at)

    def _lock_row(self, conn: Connection, key: str) -> Any:
        if self._dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before reading
        elif self._dialect == "postgresql":
            conn.execute(
                pg_insert(_TABLE).values(user_id=key, data={}).on_conflict_do_nothing()
            )
        query = select(_TABLE.c.data, _TABLE.c.updated_at).where(_TABLE.c.user_id == key)
        return conn.execute(query.with_for_update()).first()

    def merge(self, user_id: str, change: ProfileUpdate) -> LongTermProfile:
        """Merge ``change`` into the user's profile (created if absent); returns the result."""
        key = _check_user(user_id)
        with self.engine.connect() as conn:
            row = self._lock_row(conn, key)
            profile = (
                LongTermProfile(user_id=user_id)
                if row is None
                else self._parse(user_id, row.data, row.updated_at)
            )
            profile.apply(change)
            data = self._data(profile)
            if row is None:
                conn.execute(insert(_TABLE).values(user_id=key, data=data))
            else:
                conn.execute(update(_TABLE).where(_TABLE.c.user_id == key).values(data=data))
            updated_at = conn.execute(
                select(_TABLE.c.updated_at).where(_TABLE.c.user_id == key)
            ).scalar_one()
            conn.commit()
        return profile.model_copy(update={"updated_at": updated_at})

    def delete(self, user_id: str) -> bool:
        """Forget the user's profile; False if there was none."""
        key = _check_user(user_id)
        with self.engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.user_id == key))
        return bool(result.rowcount)

    # -- async wrappers (blocking SQL runs in a worker thread) ----------------------------

    async def aget(self, user_id: str) -> LongTermProfile:
        return await asyncio.to_thread(self.get, user_id)

    async def amerge(self, user_id: str, change: ProfileUpdate) -> LongTermProfile:
        return await asyncio.to_thread(self.merge, user_id, change)

    async def adelete(self, user_id: str) -> bool:
        return await asyncio.to_thread(self.delete, user_id)
