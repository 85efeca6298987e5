"""The plan step: a planning call counted in the trace, the offline planner after a model
that fails, plans written as text read back, one repair round for an unreadable plan."""

from __future__ import annotations

import json

from agent.testing import ScriptedChatModel, plan
from agent.trace import PlanAttempt
from agent.turn.plan import Planner, plan_round, ungrounded_answer
from agent.turn.state import Collaborators
from tests.agent.turn.conftest import StateFactory

COMEDIES = plan(("filter_items", {"categories_all": ["Comedy"]}),
                ("rank_by_popularity", {"by": "popularity"}))


async def test_a_plan_is_returned_and_counted(make_state: StateFactory, planner: Planner,
                                              kit: Collaborators) -> None:
    model = ScriptedChatModel(script=[COMEDIES])
    st = make_state("funny movies", model)
    ai = await plan_round(st, planner, kit)
    assert ai is not None and [c["name"] for c in ai.tool_calls] == [
        "filter_items", "rank_by_popularity"]
    assert model.bound_tools[0] and "filter_items" in model.bound_tools[0]
    assert len(st.trace.llm_calls) == 1 and st.trace.prompt_tokens[0] > 0
    assert st.model is model and not st.trace.fallbacks


async def test_a_failing_model_falls_back_to_the_offline_planner(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny movies", ScriptedChatModel(script=[TimeoutError("too slow")]))
    ai = await plan_round(st, planner, kit)
    assert ai is not None and ai.tool_calls  # the offline planner's plan
    assert st.model is st.rules and st.reason == "fallback"
    assert [f.stage for f in st.trace.fallbacks] == ["plan"]
    assert "TimeoutError" in st.trace.fallbacks[0].reason
    assert st.trace.llm_calls[0].error.startswith("TimeoutError")


async def test_a_plan_written_as_text_is_read_back(make_state: StateFactory, planner: Planner,
                                                   kit: Collaborators) -> None:
    written = json.dumps({"name": "filter_items", "arguments": {"categories_all": ["Comedy"]}})
    st = make_state("funny movies", ScriptedChatModel(script=[f"<tool_call>{written}</tool_call>"]))
    ai = await plan_round(st, planner, kit)
    assert ai is not None
    assert [(c["name"], c["args"]) for c in ai.tool_calls] == [
        ("filter_items", {"categories_all": ["Comedy"]})]


async def test_an_unreadable_plan_is_sent_back_once_then_planned_offline(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    broken = '{"name": "filter_items", "arguments": {oops'
    st = make_state("funny movies", ScriptedChatModel(script=[broken, broken]))
    assert await plan_round(st, planner, kit) is None  # sent back for repair
    assert st.reason == "fix" and st.repaired_text and st.fixes == 1
    assert "not valid JSON" in str(st.messages[-1].content)
    ai = await plan_round(st, planner, kit)  # unreadable again: the offline plan
    assert ai is not None and ai.tool_calls and st.model is st.rules
    assert st.trace.fallbacks[-1].reason.startswith("unreadable plan")


def test_an_answer_naming_items_without_a_plan_is_not_grounded(
        make_state: StateFactory, kit: Collaborators) -> None:
    st = make_state("something like Toy Story", ScriptedChatModel(script=[]))
    naming = PlanAttempt(index=0, reason="initial", backend="scripted",
                         content="You will love Toy Story and Jumanji.")
    asking = PlanAttempt(index=0, reason="initial", backend="scripted",
                         content="Do you prefer something recent?")
    assert ungrounded_answer(st, kit, naming)
    assert not ungrounded_answer(st, kit, asking)
    st.model = st.rules  # the offline planner's text is its own (never an invented title)
    assert not ungrounded_answer(st, kit, naming)

