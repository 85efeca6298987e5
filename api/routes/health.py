"""``/healthz`` (the process answers) and ``/readyz`` (database, Redis, models usable).

``/readyz`` queries the database and Redis, so it cannot be allowed to multiply load on
them: its answer is kept for :data:`READY_TTL_S` and concurrent probes share one check in
flight. However hard it is called, each process queries each backend at most once per
:data:`READY_TTL_S` (plus one running check), and a probe still sees a change within that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from starlette.datastructures import State

from api.errors import ErrorEnvelope, count_error, error_body
from recagent.runtime import Runtime
from recagent.settings import Settings

log = logging.getLogger("recagent.api")

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0
READY_TTL_S = 1.0  # how long one readiness answer is reused


class ReadinessCache:
    """The last readiness answer, its age on ``clock`` (seconds, never going back; tests
    pass one they move by hand) and the lock that makes concurrent probes share a check.
    Kept in ``app.state.readiness``; made on the first probe when absent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = asyncio.Lock()
        self.clock = clock
        self.runtime: Runtime | None = None
        self.at = float("-inf")
        self.answer: tuple[int, dict[str, Any]] = (503, {})


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _db_ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _check(name: str, coro: Awaitable[str]) -> tuple[str, bool, str]:
    try:
        detail = await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
        return name, True, detail
    except TimeoutError:
        return name, False, f"no answer within {CHECK_TIMEOUT_S:g} s"
    except LookupError as exc:  # our own message (no models): safe to show
        return name, False, str(exc)[:300]
    except Exception as exc:  # a readiness probe reports, it does not raise
        # the component and the kind of failure; its address and driver text stay in the log
        log.warning("readiness: %s failed: %s", name, exc)
        return name, False, f"unreachable ({type(exc).__name__})"


async def _database(runtime: Runtime) -> str:
    await asyncio.to_thread(_db_ping, runtime.engine)
    return f"ok ({runtime.engine.dialect.name})"


async def _redis(runtime: Runtime, settings: Settings) -> str:
    if not settings.redis_url:
        return "not configured (in-process sessions)"
    await runtime.sessions.ping()
    return "ok"


async def _models(runtime: Runtime) -> str:
    bundle = runtime.models
    names = sorted(bundle.models)
    if not names:
        raise LookupError("no recommender models are loaded (run `recagent train`)")
    path = bundle.path
    return f"ok ({', '.join(names)}" + (f"; {path.name})" if path is not None else ")")


def forget_readiness(state: State) -> None:
    """Drop the kept answer (after an admin job changed what readiness checks); a check in
    flight fills the cache it started with, not the new one."""
    cache: ReadinessCache | None = getattr(state, "readiness", None)
    if cache is not None:
        state.readiness = ReadinessCache(cache.clock)


@router.get("/readyz", summary="Readiness: database, Redis and models",
            responses={503: {"model": ErrorEnvelope,
                             "description": "`not_ready`: a dependency is down; `checks` says "
                                            "which (by name and kind of failure, never its "
                                            "address)"}})
async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    settings: Settings = request.app.state.settings
    if runtime is None:
        count_error(request, "not_ready")
        return JSONResponse(error_body("not_ready", "the service is starting or stopping"),
                            status_code=503)
    state = request.app.state
    cache: ReadinessCache | None = getattr(state, "readiness", None)
    if cache is None:
        cache = state.readiness = ReadinessCache()
    async with cache.lock:  # concurrent probes wait for the one check in flight
        if cache.runtime is not runtime or cache.clock() - cache.at >= READY_TTL_S:
            cache.answer = await _readiness(runtime, settings)
            cache.runtime, cache.at = runtime, cache.clock()
        status, body = cache.answer
    if status != 200:
        count_error(request, "not_ready")
    return JSONResponse(body, status_code=status)


async def _readiness(runtime: Runtime, settings: Settings) -> tuple[int, dict[str, Any]]:
    results = await asyncio.gather(
        _check("database", _database(runtime)),
        _check("redis", _redis(runtime, settings)),
        _check("models", _models(runtime)),
    )
    checks = {name: {"ok": ok, "detail": detail} for name, ok, detail in results}
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        message = "; ".join(f"{name}: {checks[name]['detail']}" for name in failed)
        return 503, error_body("not_ready", f"not ready: {message}", status="unavailable",
                               checks=checks)
    return 200, {"status": "ready", "checks": checks}
