"""Every branch of a turn with the scripted fake model (it fails on an unexpected call)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from agent.errors import AgentError
from agent.service import MAX_FIXES, Agent
from agent.testing import ScriptedChatModel, UnexpectedCall, plan
from agent.tokens import count_tokens
from agent.types import TurnEvent
from tests.agent.conftest import AgentFactory

COMEDY_90S = plan(
    ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
    ("rank_by_popularity", {"by": "popularity"}),
)


async def test_plan_runs_in_order_and_llm_writes_reply(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[COMEDY_90S, "Fun picks: Forrest Gump is a classic."])
    agent: Agent = await make_agent(model)
    result = await agent.turn("funny 90s movies")
    assert model.remaining == 0 and len(model.calls) == 2
    assert model.bound_tools[0] and "filter_items" in model.bound_tools[0]
    assert model.bound_tools[1] == []  # the reply call gets no tools
    titles = [r.title for r in result.recommendations]
    assert len(titles) == 10 and "Forrest Gump" in titles
    for rec in result.recommendations:
        assert "Comedy" in rec.categories and 1990 <= (rec.year or 0) <= 1999
    assert result.reply == "Fun picks: Forrest Gump is a classic."
    tools = result.trace["attempts"][0]["tools"]
    assert [t["name"] for t in tools] == ["filter_items", "rank_by_popularity"]
    assert tools[0]["candidates_in"] is None and tools[0]["candidates_out"] > 10
    assert result.trace["llm"]["calls"] == 2


async def test_no_tool_calls_is_the_reply(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[AIMessage("Which genre do you like?")])
    agent: Agent = await make_agent(model)
    result = await agent.turn("hmm")
    assert result.reply == "Which genre do you like?"
    assert result.recommendations == []
    assert len(model.calls) == 1  # no reply call for a clarifying question


@pytest.mark.parametrize(
    "bad",
    [
        plan(("no_such_tool", {"x": 1})),
        plan(("filter_items", {"year_min": "nineteen ninety"})),
        plan(("filter_items", {"genre": "Comedy"})),
        plan(("filter_items", {"categories_all": ["Comdy"]})),
        AIMessage(
            "",
            invalid_tool_calls=[
                {
                    "name": "filter_items",
                    "args": "{oops",
                    "id": "c0",
                    "error": "bad json",
                    "type": "invalid_tool_call",
                }
            ],
        ),
    ],
    ids=["unknown-tool", "schema-invalid", "unknown-arg", "model-retry", "unparseable"],
)
async def test_fixable_error_goes_back_and_is_fixed(make_agent: AgentFactory,
                                                    bad: AIMessage) -> None:
    model = ScriptedChatModel(script=[bad, COMEDY_90S, "Here you go."])
    agent: Agent = await make_agent(model)
    result = await agent.turn("90s comedies")
    assert len(result.recommendations) == 10
    attempts = result.trace["attempts"]
    assert [a["reason"] for a in attempts] == ["initial", "fix"]
    assert attempts[0]["tools"][0]["ok"] is False and attempts[0]["tools"][0]["fixable"]
    replan_prompt = model.calls[1]
    errors = [m for m in replan_prompt if isinstance(m, ToolMessage)]
    assert errors and isinstance(errors[0].content, str)
    assert errors[0].content.startswith("error")
    assert "critique:" in replan_prompt[-1].content


async def test_fix_retries_are_bounded(make_agent: AgentFactory) -> None:
    bad = [plan(("no_such_tool", {"n": k})) for k in range(MAX_FIXES + 1)]
    model = ScriptedChatModel(script=bad)
    agent: Agent = await make_agent(model)
    result = await agent.turn("90s comedies")
    # MAX_FIXES repairs, then the offline planner's plan: never an empty turn
    attempts = result.trace["attempts"]
    assert len(attempts) == MAX_FIXES + 2 and attempts[-1]["backend"] == "rules"
    assert result.recommendations and all(
        "Comedy" in r.categories and 1990 <= (r.year or 0) <= 1999
        for r in result.recommendations)
    with pytest.raises(UnexpectedCall):  # nothing else was scripted, nothing else was called
        model.invoke("extra")


async def test_reflection_replans_on_a_violated_condition(make_agent: AgentFactory) -> None:
    # the first plan filters on a category that matches nothing in the 2030s: the filter
    # leaves the bus unchanged, so the ranking recommends non-matching items
    empty_filter = plan(
        ("filter_items", {"categories_all": ["Western"], "year_min": 2030}),
        ("rank_by_popularity", {}),
    )
    model = ScriptedChatModel(script=[empty_filter, COMEDY_90S, "Ok."])
    agent: Agent = await make_agent(model)
    result = await agent.turn("recent westerns")
    refl = result.trace["reflections"]
    assert refl[0]["ok"] is False and refl[1]["ok"] is True
    assert [a["reason"] for a in result.trace["attempts"]] == ["initial", "reflection"]
    critique = model.calls[1][-1].content
    assert "critique:" in critique
    assert all("Comedy" in r.categories for r in result.recommendations)


async def test_max_reflections_is_honoured(make_agent: AgentFactory) -> None:
    hopeless = plan(
        ("filter_items", {"categories_all": ["Western", "Animation", "Horror"]}),
        ("rank_by_popularity", {}),
    )
    # a different (but equally hopeless) plan each time so no "same plan" shortcut applies
    plans = [
        plan(
            (
                "filter_items",
                {"categories_all": ["Western", "Animation", "Horror"], "year_min": 1900 + k},
            ),
            ("rank_by_popularity", {}),
        )
        for k in range(3)
    ]
    model = ScriptedChatModel(script=[hopeless, *plans[:2], "Nothing found."])
    agent: Agent = await make_agent(model, settings_overrides={"max_reflections": 2})
    result = await agent.turn("animated horror westerns")
    assert len(result.trace["attempts"]) == 3  # initial + 2 reflections
    assert len(result.trace["reflections"]) == 3
    assert model.remaining == 0


async def test_zero_reflections(make_agent: AgentFactory) -> None:
    hopeless = plan(
        ("filter_items", {"categories_all": ["Western"], "year_min": 2030}),
        ("rank_by_popularity", {}),
    )
    model = ScriptedChatModel(script=[hopeless, "Here."])
    agent: Agent = await make_agent(model, settings_overrides={"max_reflections": 0})
    result = await agent.turn("recent westerns")
    assert len(result.trace["attempts"]) == 1 and model.remaining == 0


async def test_llm_error_falls_back_to_rules(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[RuntimeError("model server down")])
    agent: Agent = await make_agent(model)
    result = await agent.turn("some comedies from the 90s, no horror")
    assert result.trace["fallbacks"][0]["stage"] == "plan"
    assert result.trace["fallbacks"][0]["to"] == "rules"
    assert result.trace["attempts"][0]["backend"] == "rules"
    assert len(result.recommendations) == 10
    for rec in result.recommendations:
        assert "Comedy" in rec.categories and "Horror" not in rec.categories
    # the reply is the template (the failing model is not asked again)
    assert "ten comedy items" in result.reply.lower()


async def test_reply_naming_other_items_is_replaced(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(
        script=[COMEDY_90S, "You will love The Shawshank Redemption and Heat!"]
    )
    agent: Agent = await make_agent(model)
    result = await agent.turn("90s comedies")
    assert "Shawshank" not in result.reply
    assert any(f["stage"] == "reply-check" for f in result.trace["fallbacks"])
    assert result.recommendations[0].title in result.reply


async def test_stream_events(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[COMEDY_90S, "Some great comedies for tonight."])
    agent: Agent = await make_agent(model)
    events: list[TurnEvent] = [e async for e in agent.stream("90s comedies")]
    types = [e.type for e in events]
    assert types[0] == "plan" and "tool" in types and types[-1] == "done"
    assert types.index("recommendations") < types.index("delta")
    deltas = "".join(e.data["text"] for e in events if e.type == "delta")
    assert deltas == "Some great comedies for tonight."
    assert len([e for e in events if e.type == "delta"]) > 1  # streamed, not one blob


async def test_stream_reports_errors_as_event(make_agent: AgentFactory) -> None:
    agent: Agent = await make_agent(ScriptedChatModel(script=[]))
    events = [e async for e in agent.stream("")]
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "empty_message"
    with pytest.raises(AgentError) as info:
        await agent.turn("x" * (agent.settings.max_message_chars + 1))
    assert info.value.status == 400


async def test_failed_turn_leaves_session_untouched(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[COMEDY_90S, "Ok."])
    agent: Agent = await make_agent(model)
    first = await agent.turn("90s comedies")
    before = await agent.get_session(first.session_id)

    class Boom(Exception):
        pass

    def explode(_messages: Any) -> AIMessage:
        raise Boom("tool crashed")

    # a tool bug (not model-fixable) fails the turn: nothing is saved
    agent._llm = ScriptedChatModel(script=[plan(("item_info", {"item_ids": ["1"]}))])
    original = agent.registry.invoke

    def broken(name: str, args: Any, ctx: Any) -> Any:
        raise Boom("tool crashed")

    agent.registry.invoke = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(Boom):
            await agent.turn("tell me about Toy Story", session_id=first.session_id)
    finally:
        agent.registry.invoke = original  # type: ignore[method-assign]
    after = await agent.get_session(first.session_id)
    assert after.version == before.version and after.messages == before.messages


async def test_prompt_budget_with_all_tools_and_three_demos(make_agent: AgentFactory) -> None:
    model = ScriptedChatModel(script=[COMEDY_90S, "Ok."])
    agent: Agent = await make_agent(model)
    result = await agent.turn("something like Heat but from the 80s, no comedy")
    assert len(agent.registry.names()) >= 9
    prompt = model.calls[0]
    # three demonstrations, as example messages
    assert sum(1 for m in prompt if getattr(m, "name", None) == "example_user") == 3
    schemas = json.dumps(agent.registry.schemas(), separators=(",", ":"))
    total = sum(count_tokens(str(m.content)) + 4 for m in prompt) + count_tokens(schemas)
    assert total <= 2500, total
    assert result.trace["prompt_tokens"][0] <= 2500


async def test_limit_sets_how_many_items_a_turn_shows_and_hides(make_agent: AgentFactory) -> None:
    agent: Agent = await make_agent()  # the rules planner
    first = await agent.turn("comedies from the 1990s", limit=5)
    shown_first = [r.item_id for r in first.recommendations]
    assert len(shown_first) == 5
    session = await agent.get_session(first.session_id)
    assert session.shown == shown_first, "only the 5 shown items count as shown"
    second = await agent.turn("not those", session_id=first.session_id, limit=7)
    shown_second = [r.item_id for r in second.recommendations]
    assert len(shown_second) == 7 and not set(shown_first) & set(shown_second)
    default = await agent.turn("comedies from the 1990s")
    assert len(default.recommendations) == agent.settings.recommendations_per_turn
    # the 6th item of the limited turn was not hidden: a fresh default turn may show it
    assert [r.item_id for r in default.recommendations][:5] == shown_first
    for bad in (0, 101):
        with pytest.raises(AgentError) as info:
            await agent.turn("comedies", limit=bad)
        assert info.value.status == 400 and info.value.code == "invalid_limit"


async def test_a_known_users_rated_items_are_not_recommended(make_agent: AgentFactory) -> None:
    agent: Agent = await make_agent()  # the rules planner
    rated = {i for i, _r in agent.catalog.user_history("1", limit=10_000)}
    assert rated
    for message in ("comedies from the 1990s", "something like Heat", "action movies"):
        result = await agent.turn(message, user_id="1")
        got = {r.item_id for r in result.recommendations}
        assert got and not got & rated, f"{message!r} recommended already rated {got & rated}"
