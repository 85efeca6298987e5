"""The periods people ask for, read by the grammar (numerals, decades, prepositions of time,
comparatives), the references to the last list, how many items are asked for and bounded
quantities."""

from __future__ import annotations

import pytest

from agent.understanding.grammar import read_count, read_quantities, read_refs, read_years
from agent.understanding.tokenizer import tokenize

CATALOG_MAX = 2018


def period(text: str) -> tuple[int | None, int | None, str | None]:
    toks = tokenize(text)
    years = read_years(toks, [False] * len(toks), CATALOG_MAX)
    return years.year_min, years.year_max, years.relative


@pytest.mark.parametrize(("text", "expected"), [
    ("a 1920s drama", (1920, 1929, None)),
    ("early 90s", (1990, 1993, None)),
    ("mid 60s", (1963, 1966, None)),
    ("late seventies", (1976, 1979, None)),
    ("before the 80s", (None, 1979, None)),
    ("pre 80s", (None, 1979, None)),
    ("after the 1990s", (2000, None, None)),
    ("1990s or 2000s", (1990, 2009, None)),
    ("between 1990 and 1995", (1990, 1995, None)),
    ("from 2001 to 1998", (1998, 2001, None)),
    ("since 2010", (2010, None, None)),
    ("after 2010", (2011, None, None)),
    ("until 1990", (None, 1990, None)),
    ("before 1990", (None, 1989, None)),
    ("older than 1980", (None, 1979, None)),
    ("around 1985", (1982, 1988, None)),
    ("recent ones", (CATALOG_MAX - 5, None, None)),
    ("something older", (None, None, "older")),
    ("more recent please", (None, None, "newer")),
    ("a comedy", (None, None, None)),
    # "from YEAR" alone is that year (as the bundled dialogues use it); what follows a
    # year or a decade can open it
    ("from 2017", (2017, 2017, None)),
    ("from 1995 onwards", (1995, None, None)),
    ("from 1995 on", (1995, None, None)),
    ("from 1995 on netflix", (1995, 1995, None)),
    ("2003 or later", (2003, None, None)),
    ("1970 and earlier", (None, 1970, None)),
    ("the 80s onward", (1980, None, None)),
    ("the sixties or before", (None, 1969, None)),
])
def test_periods(text: str, expected: tuple[int | None, int | None, str | None]) -> None:
    assert period(text) == expected


def test_a_year_read_as_a_period_is_not_a_reference_to_the_list() -> None:
    toks = tokenize("the 2nd one and #3, since 1995")
    used = [False] * len(toks)
    years = read_years(toks, used, CATALOG_MAX)
    assert (years.year_min, years.year_max) == (1995, None)
    assert read_refs(toks, used) == [2, 3]


def quantities(text: str) -> list[tuple[str, float, float | None]]:
    toks = tokenize(text)
    return [(q.bound, q.value, q.scale) for q in read_quantities(toks, [False] * len(toks))]


@pytest.mark.parametrize(("text", "expected"), [
    ("at least 4", [("floor", 4.0, None)]),
    ("rated 3.5 or higher", [("floor", 3.5, None)]),
    ("no less than four", [("floor", 4.0, None)]),
    ("more than 100 votes", [("floor", 100.0, None)]),
    ("4+ please", [("floor", 4.0, None)]),
    ("300 pages or more", [("floor", 300.0, None)]),
    ("at most 2", [("ceiling", 2.0, None)]),
    ("2 or lower", [("ceiling", 2.0, None)]),
    ("a 4/5 at least", [("floor", 4.0, 5.0)]),
    ("8 out of 10", [("floor", 8.0, 10.0)]),
    ("two comedies", []),
    ("version 3.5", []),
])
def test_bounded_quantities(text: str, expected: list[tuple[str, float, float | None]]) -> None:
    assert quantities(text) == expected


def test_a_quantity_keeps_the_words_that_say_what_it_measures() -> None:
    toks = tokenize("dramas with an average rating of at least 4, from the 90s")
    (q,) = read_quantities(toks, [False] * len(toks))
    assert {"average", "rating"} <= set(q.words) and "90s" not in q.words


def count(text: str, heads: set[str]) -> int | None:
    """How many items ``text`` asks for, ``heads`` standing for what the grounding found
    (categories, tags, the catalog's noun)."""
    toks = tokenize(text)
    return read_count(toks, [False] * len(toks), {i for i, t in enumerate(toks)
                                                  if t.low in heads})


@pytest.mark.parametrize(("text", "expected"), [
    ("one sci fi", 1),
    ("just 3 good mysteries", 3),
    ("a single western", 1),
    ("show me five more", 5),
    ("seven more than that", None),
    ("those two mysteries were fine", None),  # a determiner: what is already there
    ("my top 3 mysteries", None),
    ("one of the best mysteries", None),  # partitive
    ("I like Zulu 2 mysteries", None),  # after a name
    ("mysteries", None),
])
def test_counts(text: str, expected: int | None) -> None:
    assert count(text, {"sci", "mysteries", "western"}) == expected
