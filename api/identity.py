"""Who is calling, proven: API keys (server to server), HMAC-signed user ids (browsers),
anonymous browser tokens -- and which identity each session belongs to.

Modes (``recagent.settings.Settings``):

* **trusted** -- neither ``RECAGENT_API_KEYS`` nor ``RECAGENT_WIDGET_SECRET`` is set (the
  embedded demo on loopback, benchmarks): a ``user_id`` is taken at its word, as before.
* **verified** -- keys and/or a widget secret are set:

  - ``Authorization: Bearer <key>`` with a configured key: a server-to-server caller of the
    key's tenant; it may act for any ``user_id`` of its tenant. A wrong key is 401.
  - no key, ``user_id`` (``X-User-Id`` header or body/query field) plus
    ``X-User-Token`` (or body ``user_token``) = hex HMAC-SHA256(widget secret, user_id):
    a browser signed in on the host site (tenant ``default``). A wrong token is 403
    ``invalid_user_token``.
  - neither: anonymous. Naming a ``user_id`` is 403 ``identity_required``. Without a
    widget secret (keys only) every ``/v1`` route but ``/v1/admin`` needs the key (401).

Ownership: every session is bound, when it is created, to one *principal*:
``t:<tenant>|u:<user>`` for a user, ``t:<tenant>`` for a key caller without a user, and
``a:<digest of the anonymous browser token>`` for an anonymous browser. The token is
returned at creation (``X-Session-Token`` header and an HttpOnly cookie) and must come back
(header, body ``session_token`` or the cookie) to continue the session -- or to *claim* it
by continuing it as a signed-in user. Any other identity gets 404 ``session_not_found``.
The bindings live next to the sessions (Redis when the sessions are there, in process
otherwise) with the sessions' TTL, refreshed on use. Keys are kept only as sha256 digests
and compared in constant time.

User ids are per tenant: the agent and the stores get :attr:`Identity.subject`
(``memory.profiles.tenant_user``: ``alice`` in the default tenant, ``shop-b/alice`` in
another). The admin routes' own key (``RECAGENT_ADMIN_API_KEY``) is checked here too
(:func:`admin_key_problem`), before any of their body is read (``api.limits``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import session_redis
from api.errors import (
    OPENAI_PATHS,
    ApiError,
    error_response_for,
    session_not_found,
    sessions_unavailable,
)
from api.messages import ID_PATTERN
from memory.profiles import DEFAULT_TENANT, tenant_user
from memory.session import Session, SessionAccessDenied
from recagent.runtime import Runtime
from recagent.settings import Settings

log = logging.getLogger("recagent.api")

TOKEN_COOKIE = "recagent_session_token"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")
MAX_BINDINGS = 200_000


def admin_key_problem(headers: Mapping[str, str], settings: Settings) -> ApiError | None:
    """Why these request headers may not use the admin routes (None: they may). Checked
    before the body is read (api.limits) and again by the routes' dependency."""
    expected = settings.admin_api_key.get_secret_value() if settings.admin_api_key else ""
    if not expected:
        return ApiError(403, "admin_disabled",
                        "admin routes are disabled: set RECAGENT_ADMIN_API_KEY to enable them")
    given = headers.get("x-admin-key", "")
    auth = headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return ApiError(401, "unauthorized", "missing or wrong admin key",
                        headers={"WWW-Authenticate": "Bearer"})
    return None


def user_token(secret: str, user_id: str) -> str:
    """What the host site's backend computes for the widget: hex HMAC-SHA256(secret, id)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def key_tenant(settings: Settings, key: str) -> str | None:
    """The tenant of a presented API key, or None. Every configured digest is compared (in
    constant time), so the time taken does not depend on which one matched."""
    presented = hashlib.sha256(key.encode()).hexdigest()
    found: str | None = None
    for tenant, digest in settings.api_keys:
        if hmac.compare_digest(presented, digest):
            found = tenant
    return found


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Identity:
    """The caller of one request, as proven."""

    kind: str  # "trusted" | "key" | "widget" | "anonymous"
    tenant: str
    user_id: str | None  # passed to the agent (personalisation, the store's owner check)
    anon_principal: str | None  # owner of this caller's sessions started without a user
    new_token: str | None = None  # minted for an anonymous browser: return it

    @property
    def subject(self) -> str | None:
        """The user id the agent and the stores get: tenant-scoped (another tenant's
        ``alice`` is another person: ``memory.profiles.tenant_user``)."""
        if self.user_id is None:
            return None
        return tenant_user(self.tenant, self.user_id)

    @property
    def principal(self) -> str | None:
        if self.user_id is not None:
            return f"t:{self.tenant}|u:{self.user_id}"
        return self.anon_principal

    @property
    def browser_token(self) -> bool:
        return self.kind in ("trusted", "widget", "anonymous") and self.user_id is None


class ApiKeyAuth:
    """Pure ASGI: on ``/v1`` (admin routes excepted: they have their own key) a presented
    ``Authorization`` must be a configured key (401 otherwise); without one, the request is
    refused (401) unless a widget secret lets browsers in (then it is a browser request).
    The facade (``/v1/chat/completions``, ``/v1/models``) always needs the key when keys
    are configured. The tenant is left in ``scope["state"]["tenant"]``."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.settings.api_keys
                or not scope["path"].startswith("/v1/") or scope["path"].startswith("/v1/admin")
                or scope["method"] == "OPTIONS"):
            await self.app(scope, receive, send)
            return
        auth = Headers(scope=scope).get("authorization")
        openai = scope["path"].startswith(OPENAI_PATHS)
        if auth is None and self.settings.widget_secret is not None and not openai:
            await self.app(scope, receive, send)
            return
        tenant = None
        if auth is not None and auth[:7].lower() == "bearer " and auth[7:].strip():
            tenant = key_tenant(self.settings, auth[7:].strip())
        if tenant is None:
            message = ("a valid API key is required: Authorization: Bearer <key>"
                       if auth is None else "the API key is not valid")
            await error_response_for(
                scope["path"], 401, "invalid_api_key" if openai else "unauthorized", message,
                headers={"WWW-Authenticate": 'Bearer realm="recagent"'})(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)


def identify(request: Request, *, user_id: str | None = None, token: str | None = None,
             session_token: str | None = None) -> Identity:
    """The caller of ``request``. ``user_id``/``token``/``session_token`` are the body's
    (or query's) fields; the headers ``X-User-Id``, ``X-User-Token``, ``X-Session-Token``
    and the token cookie are read here. 403 when a user id is named without proof."""
    settings: Settings = request.app.state.settings
    headers = request.headers
    header_user = headers.get("x-user-id") or None
    if user_id and header_user and user_id != header_user:
        raise ApiError(403, "identity_mismatch",
                       "the user id of the body differs from the X-User-Id header")
    user = user_id or header_user
    if user is not None and not re.fullmatch(ID_PATTERN, user):
        raise ApiError(422, "invalid_request", "user_id: 1-128 of A-Za-z0-9_-.:@")
    tenant = getattr(request.state, "tenant", None)
    if tenant is not None:  # an API key: may act for any user of its tenant
        return Identity("key", tenant, user, f"t:{tenant}")

    presented = session_token or headers.get("x-session-token") or \
        request.cookies.get(TOKEN_COOKIE)
    if presented is not None and not TOKEN_PATTERN.fullmatch(presented):
        presented = None
    new_token = None
    if presented is None:
        auth = headers.get("authorization")
        if not settings.identity_configured and auth and auth[:7].lower() == "bearer ":
            # trusted mode: an SDK's (unchecked) key scopes its anonymous conversations
            anon = "k:" + _digest(auth[7:].strip())
        else:
            new_token = secrets.token_urlsafe(24)
            anon = "a:" + _digest(new_token)
    else:
        anon = "a:" + _digest(presented)

    if not settings.identity_configured:
        return Identity("trusted", DEFAULT_TENANT, user, anon, new_token)
    if user is None:
        return Identity("anonymous", DEFAULT_TENANT, None, anon, new_token)
    if settings.widget_secret is None:
        raise ApiError(403, "identity_required",
                       "a user id needs an API key (Authorization: Bearer)")
    proof = token or headers.get("x-user-token")
    if not proof:
        raise ApiError(403, "identity_required",
                       "a user id needs its X-User-Token (HMAC made by the host site) "
                       "or an API key")
    expected = user_token(settings.widget_secret.get_secret_value(), user)
    if not hmac.compare_digest(expected.encode(), proof.strip().lower().encode()):
        raise ApiError(403, "invalid_user_token", "the user token does not match the user id")
    return Identity("widget", DEFAULT_TENANT, user, anon, new_token)


def token_headers(request: Request, identity: Identity, response: Response) -> None:
    """Return a freshly minted anonymous token: ``X-Session-Token`` and an HttpOnly cookie."""
    if identity.new_token is None or not identity.browser_token:
        return
    settings: Settings = request.app.state.settings
    response.headers["X-Session-Token"] = identity.new_token
    response.set_cookie(TOKEN_COOKIE, identity.new_token, max_age=settings.session_ttl_s,
                        path="/v1", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


# ---- bindings ---------------------------------------------------------------------------

class OwnerIndex(Protocol):
    async def get(self, session_id: str, ttl_s: int) -> str | None:
        """The principal the session is bound to (the TTL refreshed), or None."""

    async def bind(self, session_id: str, principal: str, ttl_s: int) -> None: ...


class MemoryOwnerIndex:
    def __init__(self, max_entries: int = MAX_BINDINGS) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, session_id: str, ttl_s: int) -> str | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            if entry[1] <= now:
                del self._entries[session_id]
                return None
            self._entries[session_id] = (entry[0], now + ttl_s)
            self._entries.move_to_end(session_id)
            return entry[0]

    async def bind(self, session_id: str, principal: str, ttl_s: int) -> None:
        with self._lock:
            self._entries[session_id] = (principal, time.monotonic() + ttl_s)
            self._entries.move_to_end(session_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class RedisOwnerIndex:
    """Shares the session store's Redis connection (closed with the store)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.prefix = prefix

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}owner:{session_id}"

    async def get(self, session_id: str, ttl_s: int) -> str | None:
        try:
            raw = await self._redis.getex(self._key(session_id), ex=ttl_s)
        except RedisError as exc:
            log.warning("session store unavailable: %s", type(exc).__name__)
            raise sessions_unavailable() from exc
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def bind(self, session_id: str, principal: str, ttl_s: int) -> None:
        try:
            await self._redis.set(self._key(session_id), principal, ex=ttl_s)
        except RedisError as exc:
            log.warning("session store unavailable: %s", type(exc).__name__)
            raise sessions_unavailable() from exc


def owners_for(request: Request, runtime: Runtime) -> OwnerIndex:
    """The app's binding index (made on first use): in Redis when the sessions are."""
    state = request.app.state
    index: OwnerIndex | None = getattr(state, "session_owners", None)
    if index is None or getattr(state, "session_owners_runtime", None) is not runtime:
        shared = session_redis(runtime)
        index = RedisOwnerIndex(*shared) if shared is not None else MemoryOwnerIndex()
        state.session_owners = index
        state.session_owners_runtime = runtime
    return index


async def bind_new(request: Request, runtime: Runtime, session_id: str,
                   identity: Identity) -> None:
    """Bind a session about to be created to the caller."""
    principal = identity.principal
    if principal is None:  # pragma: no cover - every identity has one
        return
    settings: Settings = request.app.state.settings
    await owners_for(request, runtime).bind(session_id, principal, settings.session_ttl_s)


async def check_access(request: Request, runtime: Runtime, session_id: str,
                       identity: Identity) -> Session:
    """The session if ``identity`` may use it, else 404 ``session_not_found`` (a foreign
    session looks exactly like an unknown one). Continuing a session bound to the caller's
    anonymous token as a user claims it: it is re-bound to the user."""
    settings: Settings = request.app.state.settings
    try:
        session = await runtime.sessions.get(session_id, user_id=identity.subject)
    except SessionAccessDenied:
        raise session_not_found() from None
    if session is None:
        raise session_not_found()
    owners = owners_for(request, runtime)
    bound = await owners.get(session_id, settings.session_ttl_s)
    if bound is None:
        # unbound: made outside the API (or its binding lost): only trusted mode goes on
        if settings.identity_configured:
            raise session_not_found()
        return session
    if bound == identity.principal:
        return session
    if identity.user_id is not None and bound == identity.anon_principal \
            and session.user_id is None:
        principal = identity.principal
        assert principal is not None
        await owners.bind(session_id, principal, settings.session_ttl_s)  # claimed
        return session
    raise session_not_found()


def startup_line(settings: Settings) -> str:
    """The one line start-up logs about identity."""
    if not settings.identity_configured:
        return ("identity: none configured (no RECAGENT_API_KEYS, no RECAGENT_WIDGET_SECRET):"
                " user ids are trusted as sent")
    parts = []
    if settings.api_keys:
        tenants = sorted({t for t, _ in settings.api_keys})
        parts.append(f"{len(settings.api_keys)} API key(s), tenants {', '.join(tenants)}")
    if settings.widget_secret is not None:
        parts.append("widget user ids verified by HMAC")
    return "identity: " + "; ".join(parts)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
