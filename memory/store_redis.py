"""The Redis session store (``redis.asyncio``), used when ``RECAGENT_REDIS_URL`` is set.

Keys (all under ``prefix``):

- ``{prefix}session:{id}`` -- the session as JSON (never pickle), expiring after ``ttl_s``;
  the TTL is refreshed by every read and write.
- ``{prefix}user:{user_id}:sessions`` -- a sorted set of that user's session ids scored by the
  time of their last save (newest first in :meth:`RedisSessionStore.list_for_user`); it
  expires with the user's last session and entries of expired sessions are pruned on listing.

Saves are compare-and-set in one Lua script (read the stored version and owner, compare,
write, index), so concurrent writers never lose an update: the loser gets
:class:`VersionConflict` and reloads. A byte-identical value already stored counts as success,
so a save retried after a lost reply does not turn into a conflict.

Corrupt data: a value under a session key that is not a valid session (bad JSON, wrong shape,
wrong Redis type) is logged as a warning and **reset: the key is deleted and the session is
treated as absent** (``get`` returns None, a save with version 0 starts it afresh). We do not
fabricate a fresh session under the same id, because its owner can no longer be known.

Redis unreachable: every call raises :class:`SessionError` naming the server (password
hidden) -- never an empty session. Socket timeouts are short so callers fail fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from memory.compaction import Summarizer, next_version
from memory.session import (
    Session,
    SessionAccessDenied,
    SessionError,
    VersionConflict,
    check_owner,
)

log = logging.getLogger(__name__)

MAX_SESSIONS_PER_USER = 1000

# KEYS: session key, user index key ("" when owner-less)
# ARGV: expected version, payload, ttl, owner ("" = none), now, session id, max per user
_SAVE_LUA = """
local cur = redis.pcall('GET', KEYS[1])
local stored = 0
local corrupt = 0
if type(cur) == 'table' and cur['err'] then
  corrupt = 1
elseif cur and cur ~= ARGV[2] then
  local ok, obj = pcall(cjson.decode, cur)
  if ok and type(obj) == 'table' and type(obj['version']) == 'number' then
    stored = obj['version']
    local owner = obj['user_id']
    if type(owner) == 'string' and owner ~= ARGV[4] then
      return {'denied', stored, 0}
    end
  else
    corrupt = 1
  end
elseif cur then
  stored = tonumber(ARGV[1])
end
if stored ~= tonumber(ARGV[1]) then
  return {'conflict', stored, corrupt}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  local n = redis.call('ZCARD', KEYS[2])
  local cap = tonumber(ARGV[7])
  if n > cap then
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - cap - 1)
  end
end
return {'ok', stored, corrupt}
"""

# KEYS: session key, index key of the requesting user ("" when none)
# ARGV: requesting user ("" = none), session id
_DELETE_LUA = """
local cur = redis.pcall('GET', KEYS[1])
if not cur then
  return 0
end
if type(cur) == 'string' then
  local ok, obj = pcall(cjson.decode, cur)
  if ok and type(obj) == 'table' then
    local owner = obj['user_id']
    if type(owner) == 'string' and owner ~= ARGV[1] then
      return -1
    end
  end
end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1
"""

# KEYS: session key; ARGV: the corrupt value seen (delete only if still the same)
_RESET_LUA = """
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' or cur == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class RedisSessionStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "recagent:",
        ttl_s: int = 86_400,
        max_bytes: int = 65_536,
        socket_timeout_s: float = 2.0,
        retries: int = 1,
        summarizer: Summarizer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: the time a save is recorded at in the user's index (the order of
        :meth:`list_for_user`); expiry is Redis's own."""
        if ttl_s <= 0 or max_bytes <= 0:
            raise ValueError("ttl_s and max_bytes must be positive")
        self.url = _safe_url(url)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.summarizer = summarizer
        self.clock = clock
        try:
            self._redis: Redis = Redis.from_url(
                url,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
                retry=Retry(NoBackoff(), retries),
                decode_responses=False,
            )
        except ValueError as exc:
            raise SessionError(f"session store: bad Redis URL {self.url}: {exc}") from None
        self._save = self._redis.register_script(_SAVE_LUA)
        self._delete = self._redis.register_script(_DELETE_LUA)
        self._reset = self._redis.register_script(_RESET_LUA)

    @property
    def client(self) -> Redis:
        """The Redis connection, for companions that keep their own keys under ``prefix``
        (the OpenAI facade's conversation index)."""
        return self._redis

    # -- keys -------------------------------------------------------------------------------

    def session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def user_key(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}:sessions"

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            raise SessionError(
                f"session store: Redis at {self.url} failed to {what}: {type(exc).__name__}: {exc}"
            ) from exc

    # -- the protocol ---------------------------------------------------------------------

    async def get(self, session_id: str, *, user_id: str | None = None) -> Session | None:
        key = self.session_key(session_id)
        wrong_type = False
        raw: Any = None
        with self._errors("read a session"):
            try:
                raw = await self._redis.getex(key, ex=self.ttl_s)
            except ResponseError as exc:
                if "WRONGTYPE" not in str(exc):
                    raise
                wrong_type = True
        if raw is None and not wrong_type:
            return None
        try:
            if wrong_type or raw is None:
                raise ValueError("the key holds a non-string Redis value")
            session = Session.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "session %s...: stored value under %s is not a valid session (%s); "
                "the session was reset (deleted, treated as absent)",
                session_id[:6],
                key,
                detail,
            )
            with self._errors("reset a corrupt session"):
                await self._reset(keys=[key], args=[raw or b""])
            return None
        if session.id != session_id:
            log.warning("session %s...: stored id differs; the session was reset", session_id[:6])
            with self._errors("reset a corrupt session"):
                await self._reset(keys=[key], args=[raw])
            return None
        check_owner(session.user_id, session_id, user_id)
        if session.user_id is not None:
            with self._errors("refresh a user index"):
                await self._redis.expire(self.user_key(session.user_id), self.ttl_s)
        return session

    async def save(self, session: Session) -> Session:
        expected = session.version
        fitted = await next_version(session, self.max_bytes, summarizer=self.summarizer)
        owner = session.user_id or ""
        with self._errors("save a session"):
            reply: Any = await self._save(
                keys=[self.session_key(session.id), self.user_key(owner) if owner else ""],
                args=[
                    expected,
                    fitted.payload,
                    self.ttl_s,
                    owner,
                    repr(self.clock()),
                    session.id,
                    MAX_SESSIONS_PER_USER,
                ],
            )
        status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        stored, corrupt = int(reply[1]), int(reply[2])
        if corrupt:
            log.warning(
                "session %s...: stored value was not a valid session; %s",
                session.id[:6],
                "replaced by this save" if status == "ok" else "treated as absent",
            )
        if status == "denied":
            raise SessionAccessDenied(f"session {session.id[:6]}... belongs to another user")
        if status == "conflict":
            raise VersionConflict(
                f"session {session.id[:6]}... is at version {stored}, this copy is at {expected}"
            )
        return Session.model_validate_json(fitted.payload)

    async def delete(self, session_id: str, *, user_id: str | None = None) -> bool:
        with self._errors("delete a session"):
            result = await self._delete(
                keys=[self.session_key(session_id), self.user_key(user_id) if user_id else ""],
                args=[user_id or "", session_id],
            )
        if int(result) == -1:
            raise SessionAccessDenied(f"session {session_id[:6]}... belongs to another user")
        return int(result) == 1

    async def list_for_user(self, user_id: str) -> list[str]:
        index = self.user_key(user_id)
        with self._errors("list a user's sessions"):
            raw_ids = await self._redis.zrevrange(index, 0, MAX_SESSIONS_PER_USER - 1)
            if not raw_ids:
                return []
            ids = [r.decode() if isinstance(r, bytes) else str(r) for r in raw_ids]
            async with self._redis.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.exists(self.session_key(sid))
                alive = await pipe.execute()
            gone = [sid for sid, ok in zip(ids, alive, strict=True) if not ok]
            if gone:
                await self._redis.zrem(index, *gone)
        return [sid for sid, ok in zip(ids, alive, strict=True) if ok]

    async def ping(self) -> None:
        with self._errors("answer a ping"):
            await self._redis.ping()

    async def aclose(self) -> None:
        await self._redis.aclose()
