"""The turn's state: which executed plan answers, and what a turn writes into its session
(re-applied as it is to a fresh copy after a lost race)."""

from __future__ import annotations

from agent.executor import Execution
from agent.reflection import Critique
from agent.testing import plan
from agent.trace import PlanAttempt
from agent.turn.plan import Planner
from agent.turn.state import Collaborators, Outcome, SessionChanges, best_outcome
from agent.types import Recommendation
from memory.session import Session, SessionProfile
from tests.agent.turn.conftest import StateFactory, executed
from tools.context import ToolContext


def _outcome(ctx: ToolContext, index: int, recs: list[str], codes: list[str],
             calls: list[dict[str, object]] | None = None) -> Outcome:
    attempt = PlanAttempt(index=index, reason="initial", backend="scripted")
    attempt.calls = calls if calls is not None else [{"name": "filter_items", "args": {}}]
    return Outcome(attempt, ctx, Execution(), recs, Critique(ok=not codes, codes=codes), "")


def test_the_answer_is_a_plan_with_items_and_fewest_problems(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    ctx = executed(kit, planner, make_state("x"), plan(content="?")).ctx
    empty = _outcome(ctx, 0, [], [])
    broken = _outcome(ctx, 1, ["1"], ["violated", "repeat"])
    fewer = _outcome(ctx, 2, ["2"], ["violated"])
    later = _outcome(ctx, 3, ["3"], ["violated"])
    assert best_outcome([empty, broken]) is broken  # items beat none
    assert best_outcome([empty, broken, fewer]) is fewer  # fewer problems
    assert best_outcome([empty, broken, fewer, later]) is later  # then the latest
    assert best_outcome([fewer]).relaxed == []


def test_the_answer_notes_the_conditions_it_let_go(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    ctx = executed(kit, planner, make_state("x"), plan(content="?")).ctx
    strict = _outcome(ctx, 0, [], ["empty"], [{"name": "filter_items", "args": {
        "categories_all": ["Western", "Musical"], "year_min": 2015}}])
    relaxed = _outcome(ctx, 1, ["9"], [], [{"name": "filter_items", "args": {
        "categories_all": ["Western"]}}])
    assert best_outcome([strict, relaxed]) is relaxed
    assert relaxed.relaxed and any("2015" in r for r in relaxed.relaxed)


def test_session_changes_are_what_the_turn_changed(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    loaded = Session(profile=SessionProfile(liked=["5"]))
    st = make_state("I loved Toy Story", session=loaded)
    best = executed(kit, planner, st, plan(("update_profile", {"like": ["1"]})))
    card = Recommendation(item_id="2", title="Jumanji", score=1.0, reason="r")
    changes = SessionChanges.of("I loved Toy Story", "Noted.", [card], loaded, best.ctx,
                                info_plan=False, owner="fay")
    assert changes.added_likes == ["1"] and changes.added_dislikes == []
    fresh = Session(id=loaded.id, shown=["2"], profile=SessionProfile(liked=["7"]))  # another tab's
    changes.apply(fresh)
    assert [m.content for m in fresh.messages] == ["I loved Toy Story", "Noted."]
    assert fresh.messages[1].recommendations == ["2"] and fresh.messages[1].reasons == ["r"]
    assert fresh.shown == ["2"] and fresh.profile.liked == ["7", "1"]
    assert fresh.user_id == "fay"  # an owner-less session is claimed by the turn's user


def test_an_answer_about_items_does_not_mark_them_shown() -> None:
    card = Recommendation(item_id="3", title="Heat", score=0.0)
    changes = SessionChanges(message="tell me about Heat", reply="Heat is ...", recs=[card],
                             info_plan=True, owner=None, added_likes=[], added_dislikes=[],
                             added_seen=[], expectations=None)
    session = Session()
    changes.apply(session)
    assert session.shown == [] and session.messages[1].recommendations == ["3"]
