"""The cards: each recommended item with what pulled it up (its basis) and a reason."""

from __future__ import annotations

from agent.responder import Card
from agent.testing import plan
from agent.turn.cards import card_basis, closest_seed, recommendations
from agent.turn.plan import Planner
from agent.turn.state import Collaborators
from tests.agent.turn.conftest import StateFactory, executed


def test_cards_follow_the_plans_order_with_its_basis(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("popular comedies", limit=12)
    best = executed(kit, planner, st, plan(("filter_items", {"categories_all": ["Comedy"]}),
                                            ("rank_by_popularity", {"by": "popularity"})))
    cards = recommendations(kit, best)
    assert [c.item_id for c in cards] == best.recs and len(cards) == 12
    assert all(isinstance(c, Card) and "Comedy" in c.categories and c.reason for c in cards)
    bases = [c.basis for c in cards if isinstance(c, Card)]
    assert bases[:10] == ["popular:"] * 10 and bases[10:] == ["", ""]  # the top ten only


def test_cards_ranked_around_a_liked_item_say_so(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("I loved Toy Story, more like it", limit=5)
    best = executed(kit, planner, st, plan(("update_profile", {"like": ["1"]}),
                                            ("similar_items", {"item_ids": ["1"]})))
    toy_story = kit.catalog.titles(["1"])["1"]
    cards = recommendations(kit, best)
    assert cards and "1" not in [c.item_id for c in cards]
    assert {c.basis for c in cards if isinstance(c, Card)} == {f"liked:{toy_story}"}


def test_an_answer_without_items_has_no_cards(make_state: StateFactory, planner: Planner,
                                              kit: Collaborators) -> None:
    st = make_state("hello")
    assert recommendations(kit, executed(kit, planner, st, plan(content="Hi!"))) == []


def test_the_basis_names_what_pulled_a_card_up() -> None:
    assert card_basis("Heat", True, False, "similar_items", [], "") == "liked:Heat"
    assert card_basis("Heat", False, False, "similar_items", [], "") == "similar:Heat"
    assert card_basis("", False, True, "rank_for_user", [], "") == "personal:"
    assert card_basis("", False, False, "search_text", ["heist"], "heist") == "text:heist"
    assert card_basis("", False, False, "search_text", [], "heist") == ""
    assert card_basis("", False, False, "rank_by_popularity", [], "") == "popular:"


def test_the_closest_seed_shares_the_most_categories() -> None:
    cats = {"a": {"Drama"}, "b": {"Comedy", "Romance"}, "c": {"Comedy"}}
    titles = {"a": "A", "b": "B", "c": "C"}
    assert closest_seed(cats, titles, "similar_items", ["Comedy", "Romance"]) == (
        "B", ["Comedy", "Romance"])
    assert closest_seed(cats, titles, "similar_items", ["Comedy"]) == ("B", ["Comedy"])
    assert closest_seed(cats, titles, "rank_for_user", ["Horror"]) == ("", [])
    assert closest_seed(cats, titles, "similar_items", ["Horror"]) == ("A", [])
