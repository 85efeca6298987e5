"""The reply and the cards claim only what the plan applied: a filter no item passed is
said not to be applied (and not described as the list's kind), a soft "not ..." is said to
only push items down, and each card names the ordering really used."""

from __future__ import annotations

from agent.testing import plan
from agent.turn.cards import recommendations
from agent.turn.plan import Planner
from agent.turn.respond import draft
from agent.turn.state import Collaborators
from tests.agent.turn.conftest import StateFactory, executed


def test_a_filter_no_item_passes_is_said_not_to_be_applied(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("a silent horror musical western documentary", limit=3)
    best = executed(kit, planner, st, plan(
        ("filter_items", {"categories_all": ["Documentary", "Western", "Musical", "Horror"]}),
        ("rank_by_popularity", {"by": "popularity"})))
    assert not best.ctx.notes.filters and best.recs  # nothing passed: candidates unchanged
    recs = recommendations(kit, best)
    text = draft(kit, st.session, best, st.rules, recs, info_plan=False).template
    assert (f"No {kit.words.noun} in the catalog meets all of the conditions together, so "
            "not all of them are applied.") in text
    assert "Documentary" not in text and "Western" not in text
    assert all("matching" not in r.reason for r in recs)


def test_a_soft_not_is_said_to_only_push_items_down(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("cartoons, nothing too sugary", limit=5)
    best = executed(kit, planner, st, plan(
        ("filter_items", {"categories_all": ["Animation"]}),
        ("rank_by_popularity", {"by": "popularity"}),
        ("search_text", {"avoid": "sugary"})))
    recs = recommendations(kit, best)
    text = draft(kit, st.session, best, st.rules, recs, info_plan=False).template
    assert "Anything mentioning “sugary” is only moved down the list, not left out" in text
    assert all(r.reason.partition(", matching ")[2].startswith("Animation") for r in recs)


def test_each_card_names_the_ordering_really_used(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("the best rated comedies", limit=3)
    by_rating = executed(kit, planner, st, plan(
        ("filter_items", {"categories_all": ["Comedy"]}),
        ("rank_by_popularity", {"by": "rating"})))
    assert all("ranked by rating" in r.reason for r in recommendations(kit, by_rating))
    by_count = executed(kit, planner, st, plan(
        ("filter_items", {"categories_all": ["Comedy"]}),
        ("rank_by_popularity", {"by": "popularity"})))
    reasons = [r.reason for r in recommendations(kit, by_count)]
    assert all("matching Comedy — ranked by popularity" in r for r in reasons), reasons
