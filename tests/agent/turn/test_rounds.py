"""A planning round as events: a plain answer ends the turn; a plan runs, is reflected on,
and answers or leaves the next round's prompt."""

from __future__ import annotations

from agent.testing import ScriptedChatModel, plan
from agent.turn.plan import Planner
from agent.turn.rounds import run_round
from agent.turn.state import Collaborators
from agent.types import TurnEvent
from tests.agent.turn.conftest import StateFactory

COMEDY_90S = plan(
    ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
    ("rank_by_popularity", {"by": "popularity"}),
)


async def test_a_question_back_ends_the_turn(make_state: StateFactory, planner: Planner,
                                            kit: Collaborators) -> None:
    st = make_state("hmm", ScriptedChatModel(script=["Which genre do you like?"]))
    events: list[TurnEvent] = [e async for e in run_round(st, kit, planner)]
    assert [e.type for e in events] == ["plan"] and events[0].data["calls"] == []
    assert st.done and st.outcomes[0].content == "Which genre do you like?"


async def test_a_plan_that_meets_the_request_ends_the_turn(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies", ScriptedChatModel(script=[COMEDY_90S]))
    events = [e async for e in run_round(st, kit, planner)]
    assert [e.type for e in events] == ["plan", "tool", "tool"]
    assert [e.data["name"] for e in events[1:]] == ["filter_items", "rank_by_popularity"]
    assert st.done and len(st.outcomes[0].recs) == 10


async def test_a_broken_plan_leaves_a_fix_for_the_next_round(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    model = ScriptedChatModel(script=[plan(("filter_items", {"year_min": "ninety"})),
                                      COMEDY_90S])
    st = make_state("90s comedies", model)
    _ = [e async for e in run_round(st, kit, planner)]
    assert not st.done and st.reason == "fix" and st.outcomes == []
    _ = [e async for e in run_round(st, kit, planner)]
    assert st.done and [a.reason for a in st.trace.attempts] == ["initial", "fix"]
