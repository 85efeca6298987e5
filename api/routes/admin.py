"""Admin: ingest a catalog, train models, reload models without a restart.

Every route needs ``RECAGENT_ADMIN_API_KEY``, sent as ``Authorization: Bearer <key>`` or
``X-Admin-Key: <key>``. When the variable is unset the routes are refused (403
``admin_disabled``), never open. One admin job runs at a time (409 ``admin_busy``); the
blocking work runs in a worker thread so chat keeps being served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, SettingsDep, call_blocking
from api.errors import ApiError, documented
from api.identity import admin_key_problem
from api.routes.health import forget_readiness
from recagent.runtime import Runtime
from tools.catalog.ingest import IngestError, ingest_csv, ingest_movielens
from tools.recommenders.training import DEFAULT_MODELS, NoInteractionsError
from tools.recommenders.training import train as train_models

log = logging.getLogger("recagent.api")


def require_admin(request: Request, settings: SettingsDep) -> None:
    problem = admin_key_problem(request.headers, settings)
    if problem is not None:
        raise problem


router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)],
                   responses=documented(401, 403, 409, 413, 422, 429, 503))


class IngestRequest(BaseModel):
    kind: Literal["movielens", "csv"] = Field(
        description="`movielens`: an ml-latest-small folder at `path`; `csv`: `items` and/or "
                    "`interactions` files (paths on the server)")
    path: str | None = None
    items: str | None = None
    interactions: str | None = None


class TrainRequest(BaseModel):
    models: list[str] | None = Field(default=None, description="default: every model")
    evaluate: bool = Field(default=False, description="also compute offline metrics (slower)")
    reload: bool = Field(default=True, description="serve the new models right away")


class JobResult(BaseModel):
    ok: bool = True
    seconds: float
    detail: dict[str, Any] = Field(default_factory=dict)


async def _exclusive(request: Request) -> asyncio.Lock:
    lock: asyncio.Lock = request.app.state.admin_lock
    if lock.locked():
        raise ApiError(409, "admin_busy", "another admin job is running; retry when it ends")
    return lock


def _models_view(runtime: Runtime) -> dict[str, Any]:
    bundle = runtime.models
    return {"models": sorted(bundle.models),
            "artifact": bundle.path.name if bundle.path is not None else None}


async def _reload(request: Request, runtime: Runtime) -> dict[str, Any]:
    await runtime.reload_models()
    forget_readiness(request.app.state)  # /readyz reports the new models at once
    return _models_view(runtime)


@router.post("/v1/admin/ingest", response_model=JobResult, summary="Import a catalog")
async def ingest(body: IngestRequest, request: Request, runtime: RuntimeDep) -> JobResult:
    lock = await _exclusive(request)
    async with lock:
        started = time.perf_counter()
        try:
            if body.kind == "movielens":
                if not body.path:
                    raise ApiError(422, "invalid_request", "`path` is required for movielens")
                report = await asyncio.to_thread(ingest_movielens, runtime.engine,
                                                 Path(body.path))
            else:
                if not body.items and not body.interactions:
                    raise ApiError(422, "invalid_request",
                                   "give `items`, `interactions` or both")
                report = await asyncio.to_thread(
                    ingest_csv, runtime.engine,
                    Path(body.items) if body.items else None,
                    Path(body.interactions) if body.interactions else None)
        except IngestError as exc:
            raise ApiError(422, "ingest_failed", str(exc)) from None
        await call_blocking(runtime.catalog.reload)
        log.info("admin ingest done", extra={"summary": report.summary()})
        return JobResult(seconds=round(time.perf_counter() - started, 3),
                         detail={"summary": report.summary()})


@router.post("/v1/admin/train", response_model=JobResult, summary="Train new models")
async def train(body: TrainRequest, request: Request, runtime: RuntimeDep,
                settings: SettingsDep) -> JobResult:
    lock = await _exclusive(request)
    async with lock:
        started = time.perf_counter()
        try:
            artifact = await asyncio.to_thread(
                train_models, runtime.engine, Path(settings.model_dir),
                models=body.models or DEFAULT_MODELS, seed=settings.seed,
                evaluate=body.evaluate)
        except NoInteractionsError as exc:
            raise ApiError(409, "no_interactions", str(exc)) from None
        except ValueError as exc:  # unknown model names and the like
            raise ApiError(422, "invalid_request", str(exc)) from None
        detail: dict[str, Any] = {"artifact": Path(artifact).name}
        if body.reload:
            detail["serving"] = await _reload(request, runtime)
        return JobResult(seconds=round(time.perf_counter() - started, 3), detail=detail)


@router.post("/v1/admin/reload", response_model=JobResult,
             summary="Load the newest model artifact without a restart")
async def reload_models(request: Request, runtime: RuntimeDep) -> JobResult:
    lock = await _exclusive(request)
    async with lock:
        started = time.perf_counter()
        try:
            detail = await _reload(request, runtime)
        except (LookupError, FileNotFoundError) as exc:
            raise ApiError(409, "no_models", str(exc)) from None
        return JobResult(seconds=round(time.perf_counter() - started, 3),
                         detail={"serving": detail})
