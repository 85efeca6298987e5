"""The embedded session store: one process, same semantics as the Redis store.

Values are kept as the same JSON bytes Redis would hold (so size caps, copies and corrupt data
behave identically); every read returns a fresh :class:`Session`. Compare-and-set, TTL
refreshed on use, ownership and compaction as in :class:`memory.session.SessionStore`.
Safe for many coroutines (and threads) of one process; not shared between processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from memory.compaction import Summarizer, next_version
from memory.session import Session, VersionConflict, check_owner

log = logging.getLogger(__name__)

MAX_SESSIONS_PER_USER = 1000
SWEEP_EVERY_S = 60.0


@dataclass
class _Entry:
    payload: bytes
    version: int
    owner: str | None
    expires_at: float
    saved_at: float


class InMemorySessionStore:
    def __init__(
        self,
        ttl_s: int = 86_400,
        max_bytes: int = 65_536,
        *,
        max_sessions: int = 100_000,
        summarizer: Summarizer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: seconds, never going back (expiry and the order of a user's sessions);
        tests pass one they move by hand."""
        if ttl_s <= 0 or max_bytes <= 0 or max_sessions <= 0:
            raise ValueError("ttl_s, max_bytes and max_sessions must be positive")
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self.summarizer = summarizer
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._by_user: dict[str, dict[str, float]] = {}  # user -> {session id: saved at}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    # -- internals (call with the lock held) --------------------------------------------

    def _live(self, session_id: str, now: float) -> _Entry | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._drop(session_id)
            return None
        return entry

    def _drop(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is not None and entry.owner is not None:
            ids = self._by_user.get(entry.owner)
            if ids is not None:
                ids.pop(session_id, None)
                if not ids:
                    del self._by_user[entry.owner]

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < SWEEP_EVERY_S:
            return
        self._last_sweep = now
        for session_id in [k for k, e in self._entries.items() if e.expires_at <= now]:
            self._drop(session_id)

    # -- the protocol ---------------------------------------------------------------------

    async def get(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        now = self.clock()
        with self._lock:
            entry = self._live(session_id, now)
            if entry is None:
                return None
            check_owner(entry.owner, session_id, user_id)
            entry.expires_at = now + self.ttl_s
            self._entries.move_to_end(session_id)
            payload = entry.payload
        try:
            return Session.model_validate_json(payload)
        except ValidationError as exc:  # only reachable if someone wrote bytes behind our back
            log.warning(
                "session %s...: stored value is not a valid session (%s); "
                "the session was reset (deleted, treated as absent)",
                session_id[:6],
                str(exc).splitlines()[0],
            )
            with self._lock:
                current = self._entries.get(session_id)
                if current is not None and current.payload == payload:
                    self._drop(session_id)
            return None

    async def save(self, session: Session) -> Session:
        expected = session.version
        # Compaction may await an LLM: it runs before, outside the lock; the CAS decides.
        fitted = await next_version(session, self.max_bytes, summarizer=self.summarizer)
        now = self.clock()
        with self._lock:
            entry = self._live(session.id, now)
            if entry is not None:
                check_owner(entry.owner, session.id, session.user_id)
            stored_version = entry.version if entry is not None else 0
            if stored_version != expected:
                raise VersionConflict(
                    f"session {session.id[:6]}... is at version {stored_version}, "
                    f"this copy is at {expected}"
                )
            self._entries[session.id] = _Entry(
                fitted.payload, expected + 1, session.user_id, now + self.ttl_s, now
            )
            self._entries.move_to_end(session.id)
            if session.user_id is not None:
                ids = self._by_user.setdefault(session.user_id, {})
                ids[session.id] = now
                if len(ids) > MAX_SESSIONS_PER_USER:
                    self._drop(min(ids, key=ids.__getitem__))
            while len(self._entries) > self.max_sessions:
                self._drop(next(iter(self._entries)))
            self._sweep(now)
        return Session.model_validate_json(fitted.payload)

    async def delete(self, session_id: str, *, user_id: str | None = None) -> bool:
        with self._lock:
            entry = self._live(session_id, self.clock())
            if entry is None:
                return False
            check_owner(entry.owner, session_id, user_id)
            self._drop(session_id)
            return True

    async def list_for_user(self, user_id: str) -> list[str]:
        now = self.clock()
        with self._lock:
            ids = list(self._by_user.get(user_id, {}))
            alive = [sid for sid in ids if self._live(sid, now) is not None]
            saved = self._by_user.get(user_id, {})
            return sorted(alive, key=lambda sid: saved.get(sid, 0.0), reverse=True)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def write_raw(self, session_id: str, payload: bytes) -> None:
        """Overwrite a stored value with raw bytes, unchecked (tests of the corrupt-data path).

        Like in Redis, a value that is not a valid session has no readable version (0)."""
        try:
            version = Session.model_validate_json(payload).version
        except ValidationError:
            version = 0
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                raise KeyError(session_id)
            entry.payload = payload
            entry.version = version
