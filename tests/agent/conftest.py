"""Agent fixtures: the bundled MovieLens catalog (SQLite and PostgreSQL), one trained model
bundle, and ``make_agent(llm=..., store=...)`` building an :class:`Agent` on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis

from agent.service import Agent
from agent.vocabulary import Vocabulary
from memory.profiles import ProfileStore
from memory.session import SessionStore
from memory.store_memory import InMemorySessionStore
from memory.store_redis import RedisSessionStore
from recagent.settings import Settings, load_settings
from tests.conftest import REDIS_URL
from tests.openai_stub import OpenAIStub
from tools.catalog.db import make_engine
from tools.catalog.repository import SqlCatalog
from tools.recommenders.bundle import ModelBundle
from tools.registry import ToolRegistry, default_registry


@pytest.fixture(scope="session")
def agent_bundle(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """Every model + text index, trained once (item ids are equal in both databases)."""
    from tools.recommenders.artifacts import load_bundle
    from tools.recommenders.training import train

    model_dir = Path(tmp_path_factory.mktemp("agent-models"))
    engine = make_engine(ml_sqlite_url)
    try:
        train(engine, model_dir, seed=42, evaluate=False)
    finally:
        engine.dispose()
    return load_bundle(model_dir)


class World:
    """One catalog + what is built from it once (vocabulary, registry)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.engine = make_engine(url)
        self.catalog = SqlCatalog(self.engine)
        self.catalog.warm()
        self.vocabulary = Vocabulary.from_catalog(self.catalog)
        self.registry: ToolRegistry = default_registry(settings)
        self.url = url


@pytest.fixture(scope="session")
def agent_settings() -> Settings:
    return load_settings(plugins="", max_reflections=2, llm_timeout_s=5.0)


@pytest.fixture(scope="session")
def sqlite_world(ml_sqlite_url: str, agent_settings: Settings) -> Iterator[World]:
    world = World(ml_sqlite_url, agent_settings)
    yield world
    world.engine.dispose()


@pytest.fixture(scope="session")
def pg_world(ml_pg_url: str, agent_settings: Settings) -> Iterator[World]:
    world = World(ml_pg_url, agent_settings)
    yield world
    world.engine.dispose()


AgentFactory = Callable[..., Awaitable[Agent]]


class Closable(Protocol):
    """What a test closes at teardown: session stores and agents (their LLM clients)."""

    async def aclose(self) -> None: ...


@pytest.fixture
def redis_cleanup(redis_prefix: str) -> Iterator[str]:
    yield redis_prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=redis_prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _factory_for(
    world: World,
    bundle: ModelBundle,
    settings: Settings,
    stores: list[Closable],
    redis_prefix: str | None,
    profile_engine: Any = None,
) -> AgentFactory:
    async def make(
        llm: Any = None,
        *,
        settings_overrides: dict[str, Any] | None = None,
        store: SessionStore | None = None,
        **options: Any,
    ) -> Agent:
        s = settings.model_copy(update=settings_overrides or {})
        if store is None:
            store = (
                RedisSessionStore(REDIS_URL, prefix=redis_prefix)
                if redis_prefix is not None
                else InMemorySessionStore()
            )
            stores.append(store)
        agent = Agent(
            settings=s,
            catalog=world.catalog,
            models=bundle,
            registry=world.registry,
            sessions=store,
            llm=llm,
            vocabulary=world.vocabulary,
            profiles=ProfileStore(profile_engine) if profile_engine else None,
            **options,
        )
        stores.append(agent)
        return agent

    return make


@pytest.fixture
async def make_agent(
    sqlite_world: World, agent_bundle: ModelBundle, agent_settings: Settings
) -> AsyncIterator[AgentFactory]:
    """Agents on SQLite + the in-process session store."""
    stores: list[Closable] = []
    yield await _factory_for(sqlite_world, agent_bundle, agent_settings, stores, None)
    for store in stores:
        await store.aclose()  # session stores and agents (their LLM clients)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    """The local OpenAI-compatible server the real clients talk to."""
    with OpenAIStub() as server:
        yield server


async def stub_agent(make_agent: AgentFactory, stub: OpenAIStub, **overrides: Any) -> Agent:
    """An agent whose model is ``openai:stub-model`` on ``stub`` (no retries), with
    ``overrides`` on top of the test settings."""
    agent: Agent = await make_agent(settings_overrides={
        "llm": "openai:stub-model", "llm_base_url": stub.base_url, "llm_max_retries": 0,
        **overrides})
    return agent


@pytest.fixture(params=["sqlite+memory", "postgresql+redis"])
async def make_backend_agent(
    request: pytest.FixtureRequest,
    agent_bundle: ModelBundle,
    agent_settings: Settings,
    redis_cleanup: str,
) -> AsyncIterator[AgentFactory]:
    """Agents on SQLite + in-process memory, and on PostgreSQL + Redis."""
    stores: list[Closable] = []
    if request.param == "sqlite+memory":
        world = request.getfixturevalue("sqlite_world")
        factory = await _factory_for(world, agent_bundle, agent_settings, stores, None)
    else:
        world = request.getfixturevalue("pg_world")
        factory = await _factory_for(world, agent_bundle, agent_settings, stores, redis_cleanup)
    yield factory
    for store in stores:
        await store.aclose()  # session stores and agents (their LLM clients)
