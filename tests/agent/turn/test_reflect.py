"""The reflect step: the critic's verdict on an executed plan, and what the next round
does -- answer, re-plan on the critique, or stop repeating a plan already run."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from agent.executor import Execution, planned_calls
from agent.reflection import Critique
from agent.testing import ScriptedChatModel, plan
from agent.turn.execute import execute_plan
from agent.turn.plan import MAX_FIXES, Planner
from agent.turn.reflect import after_reflection, after_tool_error, reflect, settled
from agent.turn.state import Collaborators, Outcome, TurnState
from tests.agent.turn.conftest import StateFactory, executed

COMEDY_90S = plan(
    ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
    ("rank_by_popularity", {"by": "popularity"}),
)
WESTERN_MUSICALS = plan(("filter_items", {"categories_all": ["Western", "Musical"]}))
KEY_A = [{"name": "filter_items", "args": {"categories_all": ["Comedy"]}}]
KEY_B = [{"name": "filter_items", "args": {"categories_all": ["Drama"]}}]
BROKEN = Critique(ok=False, codes=["violated"], problems=["X is not a comedy"])


async def _reflected(kit: Collaborators, planner: Planner, st: TurnState,
                     ai: AIMessage) -> tuple[Outcome, Critique]:
    attempt = st.trace.new_attempt("initial", "scripted")
    ctx, execution, recs = execute_plan(kit, planner, planned_calls(ai), st.session, st.owner,
                                        attempt, st.limit)
    critique = await reflect(kit, st, attempt, ctx, recs)
    return Outcome(attempt, ctx, execution, recs, critique, ""), critique


async def test_a_plan_that_meets_the_request_is_accepted(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies")
    _outcome, critique = await _reflected(kit, planner, st, COMEDY_90S)
    assert critique.ok
    assert [(r.ok, r.critic) for r in st.trace.reflections] == [(True, "rules")]


async def test_fewer_items_than_asked_are_the_answer_not_a_replan(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("western musicals", limit=20)
    outcome, critique = await _reflected(kit, planner, st, WESTERN_MUSICALS)
    assert critique.codes == ["too_few"] and outcome.recs
    assert settled(st, critique, outcome.recs, KEY_A, max_reflections=2)


def test_a_replan_that_repeats_a_plan_already_run_is_not_run_again(
        make_state: StateFactory) -> None:
    st = make_state("funny movies")
    st.reflections = 1
    st.seen_plans = [KEY_A, KEY_B]
    assert not settled(st, BROKEN, ["1"], KEY_B, max_reflections=2)  # a new plan: go on
    st.seen_plans = [KEY_A, KEY_A]
    assert settled(st, BROKEN, ["1"], KEY_A, max_reflections=2)  # the same plan again
    st.seen_plans = [KEY_A, KEY_B]
    st.reflections = 2
    assert settled(st, BROKEN, ["1"], KEY_B, max_reflections=2)  # out of reflections


def test_a_broken_plan_is_kept_and_replanned_with_the_critique(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny movies", ScriptedChatModel(script=[]))
    ctx = executed(kit, planner, st, plan(content="?")).ctx
    attempt = st.trace.new_attempt("initial", "scripted")
    failed = Outcome(attempt, ctx, Execution(), ["1"], BROKEN, "")
    st.seen_plans.append(KEY_A)
    after_reflection(kit, st, AIMessage("", tool_calls=[]), failed, KEY_A)
    assert not st.done and st.outcomes == [failed]
    assert st.reason == "reflection" and st.reflections == 1
    assert st.critique_text == "X is not a comedy"
    assert "X is not a comedy" in str(st.messages[-1].content)


def test_tool_errors_are_fixed_then_planned_offline_then_kept(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny movies", ScriptedChatModel(script=[]))
    ctx = executed(kit, planner, st, plan(content="?")).ctx
    ai = AIMessage("", tool_calls=[])
    error = Critique(ok=False, codes=["tool_error"], problems=["unknown tool nope"])
    for fix in range(1, MAX_FIXES + 1):  # each new broken plan goes back to the model
        failed = Outcome(st.trace.new_attempt("fix", "scripted"), ctx, Execution(), [], error,
                         "")
        after_tool_error(st, ai, failed, [{"name": "nope", "args": {"n": fix}}])
        assert (st.fixes, st.reason, st.model is st.rules) == (fix, "fix", False)
    after_tool_error(st, ai, failed, [{"name": "nope", "args": {"n": 99}}])
    assert st.model is st.rules and st.reason == "fallback"  # no fixes left: offline plan
    assert st.trace.fallbacks[-1].reason.startswith("invalid plan after repair")
    after_tool_error(st, ai, failed, [{"name": "nope", "args": {"n": 100}}])
    assert st.done and st.outcomes == [failed]  # even the offline plan failed: the answer
