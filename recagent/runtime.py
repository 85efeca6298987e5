"""Wiring: settings -> engine, catalog, models, session + profile stores, tools, agent.

``runtime = await build_runtime(settings)`` (``llm=`` any LangChain chat model to override
``settings.llm``); ``await runtime.aclose()`` at shutdown; ``await runtime.reload_models()``
after a training run (new turns use the newest bundle).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy import Engine

from agent.service import Agent
from agent.vocabulary import Vocabulary
from memory.factory import make_session_store
from memory.profiles import ProfileStore
from memory.session import SessionStore
from recagent.settings import Settings
from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.repository import SqlCatalog
from tools.recommenders.artifacts import load_bundle
from tools.recommenders.bundle import ModelBundle
from tools.recommenders.common import pin_blas_threads
from tools.registry import ToolRegistry, default_registry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    catalog: SqlCatalog
    models: ModelBundle
    sessions: SessionStore
    profiles: ProfileStore
    registry: ToolRegistry
    agent: Agent

    async def reload_models(self) -> ModelBundle:
        """Load the newest artifact under ``settings.model_dir`` and hand it to the agent."""
        bundle = await asyncio.to_thread(load_bundle, self.settings.model_dir)
        self.models = bundle
        self.agent.set_models(bundle)
        return bundle

    async def aclose(self) -> None:
        try:
            await self.agent.aclose()
            await self.sessions.aclose()
        finally:
            await asyncio.to_thread(self.engine.dispose)


def _load_models(settings: Settings) -> ModelBundle:
    try:
        return load_bundle(settings.model_dir)
    except FileNotFoundError:
        log.warning(
            "no trained models under %s: CF tools answer with an error until `recagent train` runs",
            settings.model_dir,
        )
        return ModelBundle(models={})


def _open(settings: Settings) -> tuple[Engine, SqlCatalog, ModelBundle, Vocabulary]:
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    catalog = SqlCatalog(engine)
    catalog.warm()
    models = _load_models(settings)
    return engine, catalog, models, Vocabulary.from_catalog(catalog)


async def build_runtime(
    settings: Settings,
    *,
    llm: BaseChatModel | None = None,
    session_prefix: str = "recagent:",
    **agent_options: Any,
) -> Runtime:
    """Everything one process serves with (blocking set-up runs in a thread)."""
    pin_blas_threads()
    engine, catalog, models, vocabulary = await asyncio.to_thread(_open, settings)
    registry = default_registry(settings)
    sessions = make_session_store(settings, prefix=session_prefix)
    profiles = ProfileStore(engine)
    agent = Agent(
        settings=settings,
        catalog=catalog,
        models=models,
        registry=registry,
        sessions=sessions,
        profiles=profiles,
        llm=llm,
        vocabulary=vocabulary,
        **agent_options,
    )
    return Runtime(settings, engine, catalog, models, sessions, profiles, registry, agent)
