"""Tool fixtures: the bundled MovieLens catalog on both databases, one trained bundle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memory.session import Session
from recagent.settings import Settings, load_settings
from tools.catalog.db import make_engine
from tools.catalog.repository import SqlCatalog
from tools.context import ToolContext
from tools.recommenders.bundle import ModelBundle
from tools.registry import ToolRegistry, default_registry


@pytest.fixture(scope="session")
def ml_bundle(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """Every model + the text index, trained once on the bundled MovieLens (item ids are
    the same in both databases, so one bundle serves both)."""
    from tools.recommenders.artifacts import load_bundle
    from tools.recommenders.training import train

    model_dir = tmp_path_factory.mktemp("models")
    engine = make_engine(ml_sqlite_url)
    try:
        train(engine, Path(model_dir), seed=42, evaluate=False)
    finally:
        engine.dispose()
    return load_bundle(Path(model_dir))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest) -> SqlCatalog:
    url = request.getfixturevalue("ml_sqlite_url" if request.param == "sqlite"
                                  else "ml_pg_url")
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    cat = SqlCatalog(engine)
    cat.warm()
    return cat


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(plugins="")


@pytest.fixture(scope="session")
def registry(settings: Settings) -> ToolRegistry:
    return default_registry(settings)


@pytest.fixture
def make_ctx(catalog: SqlCatalog, ml_bundle: ModelBundle, settings: Settings
             ) -> Callable[..., ToolContext]:
    def make(session: Session | None = None, user_id: str | None = None) -> ToolContext:
        return ToolContext(catalog=catalog, models=ml_bundle, session=session or Session(),
                           settings=settings, user_id=user_id)

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., ToolContext]) -> ToolContext:
    return make_ctx()
