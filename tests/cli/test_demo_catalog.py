"""The demo's catalog remembers what it holds: after ``recagent demo`` prepared a database,
``recagent chat`` and the server's workers (``create_app()`` with no arguments, as uvicorn
builds it) speak of movies without ``RECAGENT_ITEM_NOUN`` set; a set noun still wins, and
any other database keeps its configured words."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from recagent.commands.chat import chat
from recagent.demo import catalog_settings, prepare_demo
from recagent.settings import Settings, load_settings
from tests.api.support import asgi_client, trained_models

training = pytest.importorskip("tools.recommenders.training")
pytestmark = pytest.mark.slow  # imports the bundled MovieLens once per test


@pytest.fixture
def demo_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ml_sqlite_url: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A database and model folder prepared by the real ``prepare_demo`` (import of the
    bundled MovieLens included); the training step copies models trained once on the same
    data instead of fitting them again. The environment points every command at them."""
    trained = trained_models(ml_sqlite_url, tmp_path_factory.mktemp("demo-noun") / "models")

    def copy_trained(engine: Any, model_dir: Path, **kwargs: Any) -> Path:
        shutil.copytree(trained, model_dir, dirs_exist_ok=True)
        return model_dir

    monkeypatch.setattr(training, "train", copy_trained)
    url, models = f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "var" / "models"
    for name, value in (("DATABASE_URL", url), ("MODEL_DIR", str(models)), ("PLUGINS", ""),
                        ("REDIS_URL", ""), ("LLM", "rules"), ("RATE_LIMIT_PER_MINUTE", "0")):
        monkeypatch.setenv(f"RECAGENT_{name}", value)
    monkeypatch.delenv("RECAGENT_ITEM_NOUN", raising=False)
    monkeypatch.delenv("RECAGENT_ITEM_NOUN_PLURAL", raising=False)
    monkeypatch.delenv("RECAGENT_ITEM_VERB", raising=False)
    settings = load_settings()
    assert prepare_demo(settings, progress=False)["steps"] == ["ingest", "train"]
    return settings


async def test_chat_and_the_server_on_the_demo_database_speak_of_movies(
        demo_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    await chat(io.StringIO("adventure films from 1995\n"), out)
    text = out.getvalue()
    assert "ask for movies" in text
    assert re.search(r"movie from 1995, matching Adventure", text), text
    assert not re.search(r"\bitems?\b", text), text

    from api.app import create_app

    async with asgi_client(create_app()) as client:  # what every uvicorn worker builds
        config = (await client.get("/widget/config")).json()
        assert config["plural"] == "movies" and config["verb"] == "watch"
        turn = (await client.post("/v1/chat", json={"message": "a few old westerns"})).json()
        assert re.search(r"\bmovies?\b", turn["reply"]) and "item" not in turn["reply"]
        assert all(" movie " in r["reason"] for r in turn["recommendations"][:3]), turn

    monkeypatch.setenv("RECAGENT_ITEM_NOUN", "film")  # a configured noun still wins
    out = io.StringIO()
    await chat(io.StringIO("/quit\n"), out)
    assert "ask for films" in out.getvalue()


def test_another_database_keeps_its_configured_words(demo_settings: Settings,
                                                     tmp_path: Path) -> None:
    assert catalog_settings(demo_settings).item_noun == "movie"
    mine = demo_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'b.db'}"})
    assert catalog_settings(mine).item_noun == "item"
    books = load_settings(database_url=demo_settings.database_url, item_noun="book",
                          model_dir=demo_settings.model_dir)
    assert catalog_settings(books).item_noun == "book"
