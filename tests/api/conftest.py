"""API test fixtures: the bundled MovieLens catalog, models trained once, a shared runtime
(rules planner, in-process sessions) for in-process tests and a real uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from recagent.settings import Settings, load_settings
from tests.api.support import LiveServer, asgi_client, trained_models

if TYPE_CHECKING:
    from recagent.runtime import Runtime


@pytest.fixture(scope="session")
def api_model_dir(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_models(ml_sqlite_url, tmp_path_factory.mktemp("api-models") / "models")


@pytest.fixture(scope="session")
def make_settings(ml_sqlite_url: str, api_model_dir: Path) -> Callable[..., Settings]:
    """Settings for the shared read-only catalog; keyword overrides win."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            database_url=ml_sqlite_url, model_dir=api_model_dir, redis_url=None, llm="rules",
            rate_limit_per_minute=0, admin_api_key=None, max_message_chars=500,
            cors_origins=[], plugins=[],
        )
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture(scope="session")
def shared_runtime(make_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    """One runtime for the in-process tests (no loop-bound state: in-process sessions)."""
    from recagent.runtime import build_runtime

    runtime = asyncio.run(build_runtime(make_settings()))
    yield runtime
    asyncio.run(runtime.aclose())


@pytest.fixture
async def client(shared_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app

    app = create_app(shared_runtime.settings, runtime=shared_runtime)
    async with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    """A real uvicorn server whose lifespan builds its own runtime (as in production)."""
    from api.app import create_app

    server = LiveServer(create_app(make_settings())).start()
    yield server
    server.stop()
