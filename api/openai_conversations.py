"""Which session a stateless OpenAI-style request continues: conversations keyed by content.

A chat UI or SDK sends the whole history with every request and never a session id. After
each turn the facade remembers ``digest(scope, prior turns + this user message + the
assistant content exactly as it was sent)`` -> session id. The next request of that
conversation carries exactly those turns before its new user message, so the digest of its
prior turns finds the session again. Two conversations of one caller have different
histories, hence different digests: they never mix.

* Only ``user`` and ``assistant`` messages count (system prompts change between UIs and
  versions); each text is whitespace-normalised (UIs trim and re-wrap).
* ``scope`` is the caller's proven identity (:class:`api.identity.Identity` ``.principal``:
  tenant + user, a key's tenant, or an anonymous token's digest). A digest never crosses
  scopes.
* When two different sessions of one scope produce the very same history (the same opening
  message answered with the same reply), the digest is marked ambiguous and the next request
  with that history starts a new session: never guess and mix.
* Entries live as long as sessions (``RECAGENT_SESSION_TTL_S``). The index is kept in Redis
  next to the sessions when the session store is Redis (so every worker sees it), in process
  otherwise (like the sessions themselves).

:class:`Conversation` is the glue a completion request uses: the session its turn goes to (an
explicit one, else the one its prior turns match, else a new one) and, after the turn, the
digest that finds it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import State
from starlette.requests import Request

from api.deps import session_redis
from api.errors import ApiError, NoSuchSession
from api.identity import Identity, bind_new, check_access, identify
from api.openai_request import CompletionRequest, explicit_session, text_of
from memory.session import new_session_id
from recagent.runtime import Runtime
from recagent.settings import Settings

log = logging.getLogger("recagent.api")

AMBIGUOUS = ""
MAX_ENTRIES = 200_000  # in-process index: least recently used dropped beyond this

# KEYS: index key; ARGV: session id, ttl seconds. Same session (or none): set; else ambiguous.
_REMEMBER_LUA = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], '', 'EX', ARGV[2])
end
return 1
"""


def normalise(text: str) -> str:
    return " ".join(text.split())


def digest(scope: str, turns: Sequence[tuple[str, str]]) -> str:
    """Digest of a conversation's user/assistant turns (other roles are left out)."""
    kept = [[role, normalise(text)] for role, text in turns if role in ("user", "assistant")]
    raw = json.dumps([scope, kept], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class ConversationIndex(Protocol):
    async def find(self, key: str) -> str | None:
        """The session id, :data:`AMBIGUOUS`, or None (unknown)."""

    async def remember(self, key: str, session_id: str, ttl_s: int) -> None: ...


class MemoryConversationIndex:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    async def find(self, key: str) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    async def remember(self, key: str, session_id: str, ttl_s: int) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            value = session_id
            if entry is not None and entry[1] > now and entry[0] != session_id:
                value = AMBIGUOUS
            self._entries[key] = (value, now + ttl_s)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class RedisConversationIndex:
    """Shares the session store's Redis connection (closed with the store)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.prefix = prefix
        self._remember = redis.register_script(_REMEMBER_LUA)

    def _key(self, key: str) -> str:
        return f"{self.prefix}openai:conversation:{key}"

    async def find(self, key: str) -> str | None:
        try:
            raw = await self._redis.get(self._key(key))
        except RedisError as exc:
            raise _unavailable(exc) from exc
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def remember(self, key: str, session_id: str, ttl_s: int) -> None:
        try:
            await self._remember(keys=[self._key(key)], args=[session_id, ttl_s])
        except RedisError as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "sessions_unavailable",
                    f"session store unavailable: {type(exc).__name__}")


def index_for(state: State, runtime: Runtime) -> ConversationIndex:
    """The app's index (made on first use): in Redis when the sessions are."""
    index: ConversationIndex | None = getattr(state, "openai_conversations", None)
    owner = getattr(state, "openai_conversations_runtime", None)
    if index is None or owner is not runtime:
        shared = session_redis(runtime)
        index = RedisConversationIndex(*shared) if shared is not None \
            else MemoryConversationIndex()
        state.openai_conversations = index
        state.openai_conversations_runtime = runtime
    return index


class Conversation:
    """Where one completion request's turn goes and how it is remembered for the next one."""

    def __init__(self, runtime: Runtime, request: Request, settings: Settings,
                 body: CompletionRequest) -> None:
        self.runtime = runtime
        self.request = request
        self.index = index_for(request.app.state, runtime)
        self.ttl_s = settings.session_ttl_s
        self.identity: Identity = identify(request, user_id=body.user)
        self.scope = self.identity.principal or "anon"
        self.prior = [(m.role, text_of(m.content)) for m in body.messages[:body.turn_at()]
                      if m.role in ("user", "assistant")]

    async def resolve(self, body: CompletionRequest) -> str:
        """The session id the turn goes to (bound to the caller when new)."""
        explicit = explicit_session(self.request, body)
        if explicit:
            await check_access(self.request, self.runtime, explicit, self.identity)
            return explicit
        if self.prior:
            found = await self.index.find(digest(self.scope, self.prior))
            if found and found != AMBIGUOUS:
                try:
                    await check_access(self.request, self.runtime, found, self.identity)
                    return found
                except NoSuchSession:  # not this caller's (or gone): start afresh, say nothing
                    pass
        session_id = new_session_id()
        await bind_new(self.request, self.runtime, session_id, self.identity)
        return session_id

    async def remember(self, message: str, content: str, session_id: str) -> None:
        """Index the conversation as the client will send it back. The turn is already
        saved: if the index cannot be written, the next request starts a new session --
        logged, not failed."""
        turns = [*self.prior, ("user", message), ("assistant", content)]
        try:
            await self.index.remember(digest(self.scope, turns), session_id, self.ttl_s)
        except ApiError as exc:
            log.warning("could not index the conversation: %s", exc.message)
