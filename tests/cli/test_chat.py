"""``recagent chat`` in the terminal and ``recagent --help``: slash commands are never sent
as requests, every list is numbered with a reason per line, the help describes the tool."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.service import Agent
from agent.vocabulary import Vocabulary
from memory.store_memory import InMemorySessionStore
from recagent.commands.chat import chat
from recagent.settings import Settings, load_settings
from tools.catalog.db import make_engine
from tools.catalog.ingest import ingest_csv
from tools.catalog.repository import SqlCatalog
from tools.recommenders.artifacts import load_bundle
from tools.recommenders.bundle import ModelBundle
from tools.recommenders.training import train
from tools.registry import default_registry

BOOKS = Path(__file__).resolve().parents[1] / "data" / "books"
ROOT = Path(__file__).resolve().parents[2]


BooksWorld = tuple[Settings, SqlCatalog, ModelBundle]


@pytest.fixture(scope="module")
def books_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BooksWorld]:
    root = tmp_path_factory.mktemp("chat-books")
    url = f"sqlite:///{root / 'books.db'}"
    engine = make_engine(url)
    try:
        ingest_csv(engine, BOOKS / "items.csv", BOOKS / "interactions.csv")
        train(engine, root / "models", seed=42, evaluate=False)
        settings = load_settings(plugins="", item_noun="book", database_url=url,
                                 model_dir=root / "models")
        catalog = SqlCatalog(engine)
        catalog.warm()
        yield settings, catalog, load_bundle(root / "models")
    finally:
        engine.dispose()


class Runtime:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.sent: list[str] = []
        real = agent.turn

        async def turn(message: str, **kwargs: Any) -> Any:
            self.sent.append(message)
            return await real(message, **kwargs)

        agent.turn = turn  # type: ignore[method-assign]


@pytest.fixture
async def runtime(books_world: BooksWorld) -> AsyncIterator[Runtime]:
    settings, catalog, bundle = books_world
    agent = Agent(settings=settings, catalog=catalog, models=bundle,
                  registry=default_registry(settings), sessions=InMemorySessionStore(),
                  vocabulary=Vocabulary.from_catalog(catalog))
    yield Runtime(agent)
    await agent.aclose()


async def test_slash_commands_are_never_requests(runtime: Runtime) -> None:
    lines = io.StringIO("/help\nmystery books from the 1930s\n/new\n/whatever\nthe help\n"
                        "/quit\nnever read\n")
    out = io.StringIO()
    assert await chat(lines, out, runtime=runtime) == 0
    text = out.getvalue()
    assert runtime.sent == ["mystery books from the 1930s", "the help"]  # no "/..." line
    assert "ask for books" in text  # the greeting speaks the catalog's noun
    assert "Ask for books to read in your own words" in text  # and /help its verb too
    for command in ("/help", "/new", "/quit"):
        assert re.search(rf"^\s+{command}\s+\S", text, re.M), command  # listed with help
    assert "Started a new conversation." in text
    assert "Unknown command /whatever" in text
    assert "never read" not in text


async def test_terminal_lists_are_numbered_with_a_reason_each(runtime: Runtime) -> None:
    out = io.StringIO()
    await chat(io.StringIO("mystery books from the 1930s\n"), out, runtime=runtime)
    rows = re.findall(r"^\s+(\d+)\. (.+?) — (.+)$", out.getvalue(), re.M)
    assert len(rows) >= 3, out.getvalue()
    assert [int(n) for n, _t, _r in rows] == list(range(1, len(rows) + 1))
    for _n, title, reason in rows:
        year = re.search(r"\((\d{4})\)$", title)
        assert year and "Mystery" in reason, (title, reason)
        assert f"book from {year.group(1)}, matching Mystery" in reason, (title, reason)
    # the reply above the list says what and why; nothing about cards the terminal lacks
    assert not re.search(r"movie|film|watch|card|below", out.getvalue(), re.I)


def test_top_level_help_describes_the_tool() -> None:
    done = subprocess.run([sys.executable, "-m", "recagent", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert "conversational recommender" in done.stdout
    assert "Sub-commands live in" not in done.stdout and "``" not in done.stdout
    assert "recagent demo" in done.stdout and "chat" in done.stdout
