"""The periods people ask for, read by the grammar (numerals, decades, prepositions of time,
comparatives) and the references to the last list."""

from __future__ import annotations

import pytest

from agent.understanding.grammar import read_refs, read_years
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
])
def test_periods(text: str, expected: tuple[int | None, int | None, str | None]) -> None:
    assert period(text) == expected


def test_a_year_read_as_a_period_is_not_a_reference_to_the_list() -> None:
    toks = tokenize("the 2nd one and #3, since 1995")
    used = [False] * len(toks)
    years = read_years(toks, used, CATALOG_MAX)
    assert (years.year_min, years.year_max) == (1995, None)
    assert read_refs(toks, used) == [2, 3]
