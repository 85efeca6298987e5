"""Demonstrations, token counting, sessions, chat."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from agent.demonstrations import DemonstrationError, DemonstrationStore, read_file
from agent.testing import ScriptedChatModel, plan
from tests.agent.conftest import AgentFactory


def test_demonstrations_seeded_and_retrieved() -> None:
    store = DemonstrationStore.load()
    assert len(read_file(Path("agent/demonstrations/movielens.jsonl"))) >= 25
    assert len(read_file(Path("agent/demonstrations/generic.jsonl"))) >= 25
    top = store.similar("movies like Heat from the 80s", k=3)
    assert len(top) == 3 and "like" in top[0].request.lower()
    assert any(c["name"] == "similar_items" for c in top[0].calls)


def test_demonstration_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"request": "a", "plan": [{"name": "x", "args": {}}]}\n{"plan": []}\n')
    with pytest.raises(DemonstrationError, match=r"d.jsonl:2: "):
        read_file(bad)


def test_learned_demonstrations_are_appended(tmp_path: Path) -> None:
    path = tmp_path / "learned.jsonl"
    store = DemonstrationStore.load(learned_path=path)
    calls = [{"name": "filter_items", "args": {"categories_all": ["Western"]}}]
    assert store.learn("cowboy films please", calls) is not None
    assert store.learn("cowboy films please", calls) is None  # no duplicate
    again = DemonstrationStore.load(learned_path=path)
    assert again.similar("cowboy films please", k=1)[0].calls == calls
    assert len(path.read_text().splitlines()) == 1


def test_scripted_model_fails_on_extra_call() -> None:
    from agent.testing import UnexpectedCall

    model = ScriptedChatModel(script=[plan(("a", {}))])
    assert model.invoke("x").tool_calls[0]["name"] == "a"
    with pytest.raises(UnexpectedCall):
        model.invoke("y")
    assert len(model.calls) == 2


async def test_feedback_get_forget_and_learning(make_agent: AgentFactory, tmp_path: Path) -> None:
    from agent.errors import AgentError

    agent = await make_agent(
        settings_overrides={"learn_demonstrations": True, "model_dir": tmp_path / "models"}
    )
    first = await agent.turn("popular westerns")
    top = first.recommendations[0].item_id
    session = await agent.feedback(first.session_id, top, "like")
    assert top in session.profile.liked
    learned = tmp_path / "demonstrations.learned.jsonl"
    assert json.loads(learned.read_text())["request"] == "popular westerns"
    second = await agent.turn("something else", session_id=first.session_id)
    assert top not in {r.item_id for r in second.recommendations}
    with pytest.raises(AgentError) as info:
        await agent.feedback(first.session_id, top, "meh")
    assert info.value.status == 400
    with pytest.raises(AgentError) as info:
        await agent.feedback("no-such-session", top, "like")
    assert info.value.status == 404
    assert await agent.forget(first.session_id)
    with pytest.raises(AgentError):
        await agent.get_session(first.session_id)


async def test_owned_session_is_refused_to_others(make_agent: AgentFactory) -> None:
    from agent.errors import AgentError

    agent = await make_agent()
    mine = await agent.turn("popular comedies", user_id="alice")
    with pytest.raises(AgentError) as info:
        await agent.turn("something else", session_id=mine.session_id, user_id="bob")
    assert info.value.status == 403


async def test_lost_race_is_retried_not_overwritten(make_agent: AgentFactory) -> None:
    import asyncio

    agent = await make_agent()
    first = await agent.turn("popular comedies")
    results = await asyncio.gather(
        *[
            agent.turn(m, session_id=first.session_id)
            for m in ("90s dramas", "westerns", "sci-fi after 2000")
        ]
    )
    stored = await agent.get_session(first.session_id)
    users = [m.content for m in stored.messages if m.role == "user"]
    assert len(users) == 4 and set(users[1:]) == {"90s dramas", "westerns", "sci-fi after 2000"}
    for r in results:
        assert set(r.recommendations[0].item_id for _ in [0]) <= set(stored.shown)


async def test_chat_command(make_agent: AgentFactory) -> None:
    from recagent.commands.chat import chat

    agent = await make_agent()

    class FakeRuntime:
        pass

    runtime = FakeRuntime()
    runtime.agent = agent  # type: ignore[attr-defined]
    out = io.StringIO()
    lines = io.StringIO("popular westerns\nmore like the first one\n\n/quit\nnever read\n")
    assert await chat(lines, out, runtime=runtime) == 0
    text = out.getvalue()
    assert text.lower().count("ten western items") == 2
    assert "  1. " in text and "never read" not in text


async def test_build_runtime_without_models(ml_sqlite_url: str, tmp_path: Path) -> None:
    from recagent.runtime import build_runtime
    from recagent.settings import load_settings

    settings = load_settings(database_url=ml_sqlite_url, model_dir=tmp_path / "none",
                             plugins="")
    runtime = await build_runtime(settings)
    try:
        assert "lookup_items" in runtime.registry and runtime.models.models == {}
        result = await runtime.agent.turn("what year is Jumanji from?")
        assert "Jumanji (1995)" in result.reply and not result.recommendations
        with pytest.raises(FileNotFoundError):
            await runtime.reload_models()
    finally:
        await runtime.aclose()
