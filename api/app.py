"""The FastAPI app factory: ``create_app(settings)``; the runtime is built in the lifespan.

Nothing is built at import time. ``uvicorn --factory api.app:create_app`` (what
``recagent serve`` runs) calls :func:`create_app` with no arguments: settings come from the
environment, read once.

Middleware, outermost first: CORS (origins from ``RECAGENT_CORS_ORIGINS``; none = no CORS
headers) -> request context (``X-Request-ID``, JSON access log, HTTP metrics, last-resort
JSON 500) -> per-client rate limit on ``/v1/*`` -> API keys on ``/v1`` (``api.identity``) ->
request-body limit (admin key checked before the body) -> the routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.engine import make_url

from api.admission import TurnGate, turn_limit
from api.errors import install_error_handlers
from api.identity import ApiKeyAuth, startup_line
from api.limits import BodyLimit
from api.messages import document_limits
from api.metrics import Metrics
from api.middleware import RequestContext
from api.ratelimit import RateLimitMiddleware, TokenBuckets
from api.routes import (
    admin,
    chat,
    health,
    items,
    metrics,
    openai_compat,
    sessions,
    static,
    tools,
)
from recagent.demo import catalog_settings
from recagent.runtime import Runtime, build_runtime
from recagent.settings import Settings, load_settings


def package_version() -> str:
    """The installed distribution's version (the spec's ``info.version``)."""
    try:
        return metadata.version("recagent")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"

log = logging.getLogger("recagent.api")

# turns running at once per process (the rest wait in a FIFO queue): api.admission.turn_limit

API_DESCRIPTION = """\
Conversational recommender agent. Chat with `POST /v1/chat` (or stream it with
`POST /v1/chat/stream`, Server-Sent Events), or point any OpenAI client at `/v1`
(`POST /v1/chat/completions`). Every error is `{"error": {"code", "message"}}`.
"""


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. With ``runtime`` given (tests, embedding) it is used as is and not
    closed by the app; otherwise the lifespan builds one from ``settings`` and closes it."""
    if settings is None:
        # a server's workers load their settings here: the demo's database speaks of movies
        settings = runtime.settings if runtime is not None else catalog_settings(
            load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(startup_line(settings))
        if runtime is not None:
            app.state.runtime = runtime
            yield
            app.state.runtime = None
            return
        built = await build_runtime(settings)
        app.state.runtime = built
        log.info("recagent ready", extra={"database": _safe_url(settings.database_url),
                                          "redis": bool(settings.redis_url),
                                          "llm": settings.llm})
        try:
            yield
        finally:
            app.state.runtime = None
            await built.aclose()

    app = FastAPI(
        title="recagent",
        version=package_version(),
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = None
    app.state.metrics = app_metrics = Metrics()
    app.state.admin_lock = asyncio.Lock()
    app.state.turn_gate = TurnGate(turn_limit(settings))

    install_error_handlers(app)
    _include_routes(app)
    document_limits(app, settings)

    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(ApiKeyAuth, settings=settings)  # the key before the body is read
    buckets = TokenBuckets(settings.rate_limit_per_minute)
    app.add_middleware(RateLimitMiddleware, buckets=buckets,
                       on_limited=app_metrics.errors.labels("rate_limited").inc)
    app.add_middleware(RequestContext, metrics=app_metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "Authorization", "X-Request-ID", "X-Session-ID",
                           "X-User-ID", "X-User-Token", "X-Session-Token"],
            expose_headers=["X-Request-ID", "X-Session-ID", "X-Session-Token",
                            "Retry-After"],
            max_age=600,
        )
    return app


def _include_routes(app: FastAPI) -> None:
    for module in (chat, openai_compat, sessions, items, tools, admin, health, metrics,
                   static):
        app.include_router(module.router)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
