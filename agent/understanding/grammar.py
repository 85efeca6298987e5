"""The little grammar the planner reads directly: numerals, periods of time and references
to the last list. These are closed word classes of the language (numbers, ordinals, the
prepositions of time, comparatives of age), not phrasings of requests; everything about
*what* people ask for comes from the catalog and the trained models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.understanding.tokenizer import Token

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
DECADE_NUMERALS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6,
                   "seventies": 7, "eighties": 8, "nineties": 9}
DECADE_PARTS = {"early": (0, 3), "mid": (3, 6), "late": (6, 9)}
# preposition (or comparative + "than") before a year -> how it bounds the period
BEFORE = frozenset({"before", "pre", "until", "till", "prior", "older", "earlier"})
AFTER = frozenset({"after", "post", "since", "newer", "later", "younger"})
AROUND = frozenset({"around", "about", "circa", "approximately", "roughly", "ca"})
RELATIVE_OLDER = frozenset({"older"})
RELATIVE_NEWER = frozenset({"newer"})
LATEST = frozenset({"recent", "latest"})
AROUND_WINDOW = 3

_DECADE = re.compile(r"(1[89]|20)?(\d)0s")
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")
_ORDINAL_DIGITS = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")


def is_grammar(word: str) -> bool:
    return (word in ORDINALS or word in DECADE_NUMERALS or word in DECADE_PARTS or word in BEFORE
            or word in AFTER or word in AROUND or word in LATEST)


@dataclass
class YearRange:
    year_min: int | None = None
    year_max: int | None = None
    relative: Literal["older", "newer"] | None = None

    @property
    def given(self) -> bool:
        return self.year_min is not None or self.year_max is not None or bool(self.relative)


def _decade(toks: Sequence[Token], i: int) -> tuple[int, int] | None:
    low = toks[i].low
    m = _DECADE.fullmatch(low)
    if m:
        century = int(m.group(1)) * 100 if m.group(1) else (2000 if m.group(2) in "012" else 1900)
        start = century + int(m.group(2)) * 10
        return start, start + 9
    if low in DECADE_NUMERALS:
        start = 1900 + DECADE_NUMERALS[low] * 10
        return start, start + 9
    return None


def read_years(toks: Sequence[Token], used: list[bool], catalog_max: int | None) -> YearRange:
    """The period the message asks for: decades ("early 90s", "before the 80s"), years and
    ranges of years ("since 2010", "between 1990 and 1995"); failing those, a relative word
    ("older", "newer", "recent": the catalog's last five years). Marks the tokens read."""
    out = YearRange()
    for i in range(len(toks)):
        if used[i]:
            continue
        if _read_decade(toks, i, out) or _read_year(toks, i, used, out):
            used[i] = True
    if not out.given:
        _read_relative(toks, used, catalog_max, out)
    return out


def _widen(out: YearRange, lo: int | None, hi: int | None) -> None:
    if lo is not None:
        out.year_min = lo if out.year_min is None else min(out.year_min, lo)
    if hi is not None:
        out.year_max = hi if out.year_max is None else max(out.year_max, hi)


def _before(toks: Sequence[Token], i: int, back: int) -> list[str]:
    """The ``back`` words before position ``i``."""
    return [t.low for t in toks[max(0, i - back):i]]


def _read_decade(toks: Sequence[Token], i: int, out: YearRange) -> bool:
    """A decade at ``i`` ("90s", "nineties"), maybe part of one ("early", "late") and bounded
    by a preposition before it ("before the 80s", "after the 90s")."""
    dec = _decade(toks, i)
    if dec is None:
        return False
    lo, hi = dec
    prev = _before(toks, i, 1)
    if prev and prev[0] in DECADE_PARTS:
        a, b = DECADE_PARTS[prev[0]]
        lo, hi = dec[0] + a, dec[0] + b
    words = _before(toks, i, 3)
    if any(w in BEFORE for w in words):
        _widen(out, None, dec[0] - 1 if "before" in words or "pre" in words else hi)
    elif any(w in AFTER for w in words):
        _widen(out, dec[1] + 1 if "after" in words or "post" in words else lo, None)
    else:
        _widen(out, lo, hi)
    return True


def _read_year(toks: Sequence[Token], i: int, used: list[bool], out: YearRange) -> bool:
    """A year at ``i``: the start of a range ("between 1990 and 1995"), around, before or
    after it, or the year itself."""
    if not _YEAR.fullmatch(toks[i].low):
        return False
    year = int(toks[i].low)
    words = _before(toks, i, 2)
    if ("between" in _before(toks, i, 3) or "from" in words) and _read_range(toks, i, used, out):
        return True
    if any(w in AROUND for w in words):
        _widen(out, year - AROUND_WINDOW, year + AROUND_WINDOW)
    elif any(w in BEFORE for w in words):
        _widen(out, None, year - (0 if any(w in ("until", "till") for w in words) else 1))
    elif any(w in AFTER for w in words):
        _widen(out, year + (0 if "since" in words else 1), None)
    else:
        _widen(out, year, year)
    return True


def _read_range(toks: Sequence[Token], i: int, used: list[bool], out: YearRange) -> bool:
    """``<year> and|to|-|until|till <year>`` starting at ``i`` (marks the second year)."""
    j = i + 2
    if j < len(toks) and _YEAR.fullmatch(toks[j].low) and toks[i + 1].low in (
            "and", "to", "-", "until", "till"):
        year, end = int(toks[i].low), int(toks[j].low)
        _widen(out, min(year, end), max(year, end))
        used[j] = True
        return True
    return False


def _read_relative(toks: Sequence[Token], used: list[bool], catalog_max: int | None,
                   out: YearRange) -> None:
    """"older" / "newer" (not "older than": that one compares), "recent" / "latest" (the
    catalog's last five years), "more recent"."""
    for i, t in enumerate(toks):
        if used[i]:
            continue
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        if t.low in RELATIVE_OLDER and nxt != "than":
            out.relative = "older"
            used[i] = True
        elif t.low in RELATIVE_NEWER and nxt != "than":
            out.relative = "newer"
            used[i] = True
        elif t.low in LATEST and catalog_max is not None:
            _widen(out, catalog_max - 5, None)
            used[i] = True
        elif t.low == "more" and nxt in LATEST:
            out.relative = "newer"
            used[i] = used[i + 1] = True


def read_refs(toks: Sequence[Token], used: list[bool]) -> list[int]:
    """Positions in the last list: "the second one", "#2", "number 3", "3rd", "the last"."""
    refs: list[int] = []
    for i, t in enumerate(toks):
        if used[i]:
            continue
        n = None
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        if t.low in ORDINALS and (i > 0 and toks[i - 1].low == "the" or nxt == "one"):
            n = ORDINALS[t.low]
        elif _ORDINAL_DIGITS.fullmatch(t.low):
            n = int(t.low[:-2])
        elif t.low.isdigit() and i > 0 and toks[i - 1].low in ("#", "number", "no"):
            n = int(t.low)
        if n is not None and (n == -1 or 1 <= n <= 100):
            refs.append(n)
            used[i] = True
    return list(dict.fromkeys(refs))


def joined_by_or(toks: Sequence[Token], start: int, ends: Sequence[int]) -> bool:
    """The span at ``start`` follows an earlier mention (ending at one of ``ends``) across
    "or" and at most an article ("a mystery or a western")."""
    j = start - 1
    while j >= 0 and toks[j].low in ("a", "an", "the", "some"):
        j -= 1
    return j >= 1 and toks[j].low in ("or", "either", "nor") and j in ends
