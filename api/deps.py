"""What routes get from the app: the runtime, settings, metrics, the turn gate; shared helpers.

Routes take them as typed ``Annotated`` dependencies (:data:`RuntimeDep`, :data:`SettingsDep`,
:data:`MetricsDep`, :data:`GateDep`), so mypy checks every call from a route into the agent
and the stores. The dependencies are coroutine functions on purpose: FastAPI runs a plain
``def`` dependency in the thread pool (an anyio hand-off per dependency per request), while
these only read ``app.state``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ParamSpec, TypeVar, overload

from fastapi import Depends, Request
from redis.asyncio import Redis

from api.admission import TurnGate
from api.errors import ApiError
from api.metrics import Metrics
from memory.store_redis import RedisSessionStore
from recagent.runtime import Runtime
from recagent.settings import Settings

T = TypeVar("T")
P = ParamSpec("P")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_gate(request: Request) -> TurnGate:
    gate: TurnGate = request.app.state.turn_gate
    return gate


def runtime_of(request: Request) -> Runtime:
    """The app's runtime; 503 while the service starts or stops (plain function)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ApiError(503, "not_ready", "the service is starting or stopping")
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
GateDep = Annotated[TurnGate, Depends(get_gate)]


def session_redis(runtime: Runtime) -> tuple[Redis, str] | None:
    """The session store's Redis connection and key prefix, for the API's companions that keep
    their keys next to the sessions (who owns a session, which conversation is which); None
    when the sessions live in the process."""
    sessions = runtime.sessions
    if isinstance(sessions, RedisSessionStore):
        return sessions.client, sessions.prefix
    return None


@overload
async def call_blocking(fn: Callable[P, Coroutine[Any, Any, T]], /,
                        *args: P.args, **kwargs: P.kwargs) -> T: ...
@overload
async def call_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...
async def call_blocking(fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
    """Run a blocking call in a worker thread (or await it when it is a coroutine function)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await asyncio.to_thread(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
