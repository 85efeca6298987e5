"""The execute step: a plan's tools run on a copy of the session; the recommended ids are
the first ``limit`` candidates the user has not been shown."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from agent.executor import Execution, planned_calls
from agent.testing import plan
from agent.trace import PlanAttempt
from agent.turn.execute import answer_outcome, catalog_name, execute_plan
from agent.turn.plan import Planner
from agent.turn.state import Collaborators, TurnState
from memory.session import Session
from tests.agent.turn.conftest import StateFactory
from tools.context import ToolContext

COMEDY_90S = plan(
    ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
    ("rank_by_popularity", {"by": "popularity"}),
)


def _run(kit: Collaborators, planner: Planner, st: TurnState, ai: AIMessage,
         ) -> tuple[ToolContext, Execution, list[str], PlanAttempt]:
    attempt = st.trace.new_attempt("initial", "scripted")
    ctx, execution, recs = execute_plan(kit, planner, planned_calls(ai), st.session, st.owner,
                                        attempt, st.limit)
    return ctx, execution, recs, attempt


def test_a_plan_recommends_what_it_asked_for(make_state: StateFactory, planner: Planner,
                                             kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=5)
    _ctx, execution, recs, attempt = _run(kit, planner, st, COMEDY_90S)
    assert execution.ok and len(recs) == 5
    assert [t.name for t in attempt.tools] == ["filter_items", "rank_by_popularity"]
    for item in kit.catalog.get_items(recs).values():
        assert "Comedy" in item.categories and 1990 <= (item.year or 0) <= 1999


def test_items_shown_before_are_not_recommended_again(make_state: StateFactory,
                                                      planner: Planner,
                                                      kit: Collaborators) -> None:
    first = _run(kit, planner, make_state("funny 90s movies", limit=5), COMEDY_90S)[2]
    again = make_state("more", session=Session(shown=first), limit=5)
    second = _run(kit, planner, again, COMEDY_90S)[2]
    assert len(second) == 5 and not set(first) & set(second)


def test_the_plan_changes_a_copy_of_the_session(make_state: StateFactory, planner: Planner,
                                                kit: Collaborators) -> None:
    session = Session()
    st = make_state("I loved Toy Story", session=session)
    ctx, execution, _recs, _attempt = _run(
        kit, planner, st, plan(("update_profile", {"like": ["1"]})))
    assert execution.ok and ctx.session.profile.liked == ["1"]
    assert session.profile.liked == []  # the save step writes it, if the turn gets there


def test_a_plan_that_ranks_nothing_is_ranked_for_the_user(make_state: StateFactory,
                                                          planner: Planner,
                                                          kit: Collaborators) -> None:
    st = make_state("something like Toy Story", limit=3)
    _ctx, _execution, recs, attempt = _run(
        kit, planner, st, plan(("lookup_items", {"names": ["Toy Story"]})))
    implicit = attempt.tools[-1]
    assert implicit.name == "rank_for_user" and implicit.args == {"implicit": True}
    assert len(recs) == 3


def test_an_answer_about_items_is_about_those_items(make_state: StateFactory,
                                                    planner: Planner,
                                                    kit: Collaborators) -> None:
    st = make_state("tell me about Toy Story and Jumanji")
    _ctx, _execution, recs, _attempt = _run(
        kit, planner, st, plan(("item_info", {"item_ids": ["2", "1"]})))
    assert recs == ["2", "1"]


def test_a_plan_without_calls_answers_with_its_text(make_state: StateFactory,
                                                   kit: Collaborators) -> None:
    st = make_state("hello")
    attempt = st.trace.new_attempt("initial", "scripted")
    attempt.content = "Hi! What are you in the mood for?"
    outcome = answer_outcome(kit, st, attempt)
    assert outcome.recs == [] and outcome.critique.ok
    assert outcome.content == "Hi! What are you in the mood for?"


def test_a_category_the_model_wrote_is_spelled_as_the_catalog_does(kit: Collaborators) -> None:
    assert catalog_name(kit.vocabulary, "categories", "comedies") == "Comedy"
    assert catalog_name(kit.vocabulary, "categories", "sci fi") == "Sci-Fi"
    assert catalog_name(kit.vocabulary, "categories", "underwater basket weaving") is None
    assert catalog_name(kit.vocabulary, "titles", "comedies") is None
