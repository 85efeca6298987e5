"""``/healthz`` (the process answers) and ``/readyz`` (database, Redis, models usable)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.errors import count_error, error_body
from recagent.settings import Settings

log = logging.getLogger("recagent.api")

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _db_ping(engine: Any) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _check(name: str, coro: Any) -> tuple[str, bool, str]:
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


async def _database(runtime: Any) -> str:
    await asyncio.to_thread(_db_ping, runtime.engine)
    return "ok (" + runtime.engine.dialect.name + ")"


async def _redis(runtime: Any, settings: Settings) -> str:
    if not settings.redis_url:
        return "not configured (in-process sessions)"
    await runtime.sessions.ping()
    return "ok"


async def _models(runtime: Any) -> str:
    bundle = runtime.models
    names = sorted(getattr(bundle, "models", {}) or {})
    if not names:
        raise LookupError("no recommender models are loaded (run `recagent train`)")
    path = getattr(bundle, "path", None)
    return f"ok ({', '.join(names)}" + (f"; {path.name})" if path is not None else ")")


@router.get("/readyz", summary="Readiness: database, Redis and models",
            responses={503: {"description": "a dependency is down; `checks` says which"}})
async def readyz(request: Request) -> JSONResponse:
    runtime = getattr(request.app.state, "runtime", None)
    settings: Settings = request.app.state.settings
    if runtime is None:
        count_error(request, "not_ready")
        return JSONResponse(error_body("not_ready", "the service is starting or stopping"),
                            status_code=503)
    results = await asyncio.gather(
        _check("database", _database(runtime)),
        _check("redis", _redis(runtime, settings)),
        _check("models", _models(runtime)),
    )
    checks = {name: {"ok": ok, "detail": detail} for name, ok, detail in results}
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        count_error(request, "not_ready")
        message = "; ".join(f"{name}: {checks[name]['detail']}" for name in failed)
        return JSONResponse(
            error_body("not_ready", f"not ready: {message}", status="unavailable",
                       checks=checks),
            status_code=503,
        )
    return JSONResponse({"status": "ready", "checks": checks})
