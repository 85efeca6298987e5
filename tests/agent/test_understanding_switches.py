"""A new request versus a refinement of the one under way, negations of categories and of
periods, and misspellings of the catalog's words (the rules planner, no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from agent.rules import RulesPlanner
from agent.understanding.policy import Words
from agent.vocabulary import Vocabulary

V = Vocabulary.from_lists(
    categories=["Comedy", "Horror", "Drama", "Thriller", "Romance", "Western", "Mystery",
                "Animation", "Children", "War"],
    tags=["twist ending", "violent", "classic"],
    titles=[("1", "Heat (1995)"), ("2", "Toy Story (1995)"), ("3", "Alien (1979)")],
    year_min=1920, year_max=2018,
)
TOOLS = {"lookup_items", "item_info", "filter_items", "search_text", "similar_items",
         "rank_for_user", "rank_by_popularity", "explain", "update_profile"}


def plan(messages: list[str], context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tool calls the planner makes for the last message (name -> arguments)."""
    planner = RulesPlanner(vocabulary=V, words=Words("movie", "movies"))
    msgs: list[Any] = [SystemMessage("context: " + json.dumps(context or {}))]
    msgs += [HumanMessage(m) for m in messages]
    return dict(planner.decide(msgs, TOOLS).calls)


def where(messages: list[str]) -> dict[str, Any]:
    return dict(plan(messages).get("filter_items") or {})


# ---- a new request replaces, a refinement adds -------------------------------------------


@pytest.mark.parametrize("messages,expected", [
    # turning away first, then a request of its own: nothing of the old one is kept
    (["war stories from the 40s", "never mind that. Show me a comedy for the whole family"],
     {"categories_all": ["Comedy"]}),
    (["mysteries set in the 70s", "scratch all of that - I'd like a western tonight"],
     {"categories_all": ["Western"]}),
    # a request of its own without turning away: its kind replaces the old one, the
    # period asked before stays until another is given
    (["westerns from the 60s", "thrillers everybody has heard of"],
     {"categories_all": ["Thriller"], "year_min": 1960, "year_max": 1969}),
    (["some horror please", "dramas from the 1970s that people still talk about"],
     {"categories_all": ["Drama"], "year_min": 1970, "year_max": 1979}),
])
def test_a_new_request_does_not_keep_the_old_kind(messages: list[str],
                                                  expected: dict[str, Any]) -> None:
    assert where(messages) == expected


@pytest.mark.parametrize("follow_up,expected", [
    ("a comedy as well", ["Western", "Comedy"]),
    ("Not really. And it has to have some comedy.", ["Western", "Comedy"]),
    ("hmm, I also want it to be funny, a comedy", ["Western", "Comedy"]),
    ("Not those. Comedy too, if you can.", ["Western", "Comedy"]),
    ("no comedies though", ["Western"]),
])
def test_a_refinement_adds_to_the_request(follow_up: str, expected: list[str]) -> None:
    assert where(["westerns from the 60s", follow_up])["categories_all"] == expected


def test_a_period_alone_refines_even_after_a_rejection() -> None:
    got = where(["westerns", "Nope, none of these. Just ones made in the 60s."])
    assert got == {"categories_all": ["Western"], "year_min": 1960, "year_max": 1969}


# ---- negations ------------------------------------------------------------------------------


@pytest.mark.parametrize("text,wanted,avoided", [
    ("a thriller but no horror", ["Thriller"], ["Horror"]),
    ("dramas without any comedy", ["Drama"], ["Comedy"]),
    ("not a horror but a comedy", ["Comedy"], ["Horror"]),
    ("westerns, no romance or comedy", ["Western"], ["Romance", "Comedy"]),
])
def test_a_negation_excludes_the_category_it_governs(text: str, wanted: list[str],
                                                      avoided: list[str]) -> None:
    got = where([text])
    assert got["categories_all"] == wanted and got["categories_none"] == avoided


@pytest.mark.parametrize("follow_up,bounds", [
    ("but nothing made before 1975", (1975, None)),
    ("not older than 1990 please", (1990, None)),
    ("nothing after the 90s", (None, 1999)),
    ("only before 1975", (None, 1974)),  # no negation: as said
])
def test_a_negated_period_is_the_other_side(follow_up: str,
                                            bounds: tuple[int | None, int | None]) -> None:
    got = where(["mysteries", follow_up])
    assert got["categories_all"] == ["Mystery"]
    assert (got.get("year_min"), got.get("year_max")) == bounds


# ---- misspellings --------------------------------------------------------------------------


@pytest.mark.parametrize("text,category", [
    ("a thriler from the 90s", "Thriller"),
    ("any good comdies?", "Comedy"),
    ("I'd like a wesstern", "Western"),
])
def test_a_misspelt_category_is_the_category(text: str, category: str) -> None:
    calls = plan([text])
    assert calls["filter_items"]["categories_all"] == [category]
    assert "search_text" not in calls and "lookup_items" not in calls


def test_a_misspelt_everyday_word_is_not_searched_for() -> None:
    calls = plan(["a western, somethin realy exciting"])
    assert calls["filter_items"]["categories_all"] == ["Western"]
    searched = json.dumps([calls.get("search_text"), calls.get("lookup_items")])
    assert "somethin" not in searched and "realy" not in searched
