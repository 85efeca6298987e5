"""The little grammar the planner reads directly: numerals, periods of time, references to
the last list, how many items are asked for and bounded quantities ("at least 4", "3.5 or
higher"). These are closed word classes of the language (numbers, ordinals, the prepositions
of time, comparatives of age and of amount, determiners), not phrasings of requests;
everything about *what* people ask for, and what a quantity is about, comes from the catalog,
the tools' own parameters and the trained models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.understanding.sentiment import negates
from agent.understanding.tokenizer import Token
from agent.vocabulary import stop_words

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
ONWARD = frozenset({"onward", "onwards", "forward", "on"})  # after a year: "1995 onwards"
AROUND_WINDOW = 3
NEGATION_REACH = 4  # words before a period a negation reaches ("nothing from before 1980")
CARDINALS = {"one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
             "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
             "fifteen": 15, "twenty": 20}
# determiners: a number after one counts what is already there ("those two", "my top 3")
DETERMINERS = frozenset({"the", "this", "that", "these", "those", "my", "your", "our",
                         "their", "his", "her", "its"})
# comparatives of amount: "<more> than N", "N or <more>", "at least N" / "at most N"
MORE = frozenset({"more", "higher", "better", "greater", "above", "over", "up", "plus"})
LESS = frozenset({"less", "lower", "worse", "fewer", "below", "under", "down"})
FLOOR_BEFORE = frozenset({"least", "over", "above", "min", "minimum"})
CEILING_BEFORE = frozenset({"most", "under", "below", "max", "maximum"})
MAX_COUNT = 100
SHOWN_PRONOUNS = frozenset({"them", "those", "these"})  # "two of them": of the items shown
RESTRICTIVE = frozenset({"just", "only"})  # focus particles restricting a number
QUANTITY_CONTEXT = 5  # words either side of a quantity that may say what it measures

_DECADE = re.compile(r"(1[89]|20)?(\d)0s")
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")
_ORDINAL_DIGITS = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
REF_MARKERS = frozenset({"#", "number", "no"})  # before a position in the list: "number 3"


def is_grammar(word: str) -> bool:
    return (word in ORDINALS or word in DECADE_NUMERALS or word in DECADE_PARTS or word in BEFORE
            or word in AFTER or word in AROUND or word in LATEST or word in CARDINALS
            or word in ONWARD
            or word in MORE or word in LESS or word in FLOOR_BEFORE or word in CEILING_BEFORE)


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
        one = YearRange()
        if _read_decade(toks, i, one) or _read_year(toks, i, used, one):
            used[i] = True
            if _negated(toks, i):
                _complement(one)
            _widen(out, one.year_min, one.year_max)
    if not out.given:
        _read_relative(toks, used, catalog_max, out)
    return out


def _negated(toks: Sequence[Token], i: int) -> bool:
    """A negation shortly before the period at ``i``, in the same clause ("nothing from
    before 1980", "not after the 90s")."""
    for t in reversed(toks[max(0, i - NEGATION_REACH):i]):
        if not t.is_word:
            return False
        if negates(t.low):
            return True
    return False


def _complement(one: YearRange) -> None:
    """A negated one-sided period is the other side: "not before 1980" is 1980 onwards;
    a negated closed period ("not from the 80s") says nothing a range can hold."""
    lo, hi = one.year_min, one.year_max
    one.year_min = hi + 1 if lo is None and hi is not None else None
    one.year_max = lo - 1 if hi is None and lo is not None else None


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
    later = _open_after(toks, i)
    if later is not None:  # "the 80s onwards", "the 70s or earlier"
        _widen(out, lo if later else None, None if later else hi)
    elif any(w in BEFORE for w in words):
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
    later = _open_after(toks, i)
    if later is not None:  # "1995 onwards", "1995 or later", "1980 and earlier"
        _widen(out, year if later else None, None if later else year)
    elif any(w in AROUND for w in words):
        _widen(out, year - AROUND_WINDOW, year + AROUND_WINDOW)
    elif any(w in BEFORE for w in words):
        _widen(out, None, year - (0 if any(w in ("until", "till") for w in words) else 1))
    elif any(w in AFTER for w in words):
        _widen(out, year + (0 if "since" in words else 1), None)
    else:
        _widen(out, year, year)
    return True


def _open_after(toks: Sequence[Token], i: int) -> bool | None:
    """The year at ``i`` opened by what follows it: True for later ("onwards", "or later",
    "and newer"), False for earlier ("or earlier", "and before"), None when nothing does.
    ("from 1995" alone is the year 1995, as the bundled dialogues use it.)"""
    nxt = [t.low for t in toks[i + 1:i + 3]]
    if nxt[:1] and nxt[0] in ONWARD and (nxt[0] != "on" or len(nxt) == 1
                                         or not toks[i + 2].is_word):
        return True
    if len(nxt) == 2 and nxt[0] in ("or", "and"):
        if nxt[1] in AFTER:
            return True
        if nxt[1] in BEFORE:
            return False
    return None


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
        elif t.low.isdigit() and i > 0 and toks[i - 1].low in REF_MARKERS:
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


@dataclass
class Quantity:
    """A bounded number ("at least 4", "3.5 or higher", "over 100"): the bound, its value,
    the words around it (what it may measure) and the scale it was given on ("4/5",
    "4 out of 5")."""

    bound: Literal["floor", "ceiling"]
    value: float
    words: tuple[str, ...] = ()
    scale: float | None = None


def _number(toks: Sequence[Token], i: int) -> tuple[float, int] | None:
    """The number starting at ``i`` (digits, a decimal "3.5", a cardinal word) and the
    position after it."""
    low = toks[i].low
    if low in CARDINALS:
        return float(CARDINALS[low]), i + 1
    if not low.isdigit():
        return None
    if (i + 2 < len(toks) and toks[i + 1].low == "." and toks[i + 2].low.isdigit()
            and toks[i + 1].start == toks[i].end and toks[i + 2].start == toks[i + 1].end):
        return float(f"{low}.{toks[i + 2].low}"), i + 3
    return float(low), i + 1


def _bound_before(toks: Sequence[Token], i: int) -> Literal["floor", "ceiling"] | None:
    """"at least N", "over N", "more than N", "no less than N" (ceiling words mirrored)."""
    prev = _before(toks, i, 3)
    if not prev:
        return None
    if prev[-1] == "than" and len(prev) >= 2:
        negated = len(prev) == 3 and prev[0] in ("no", "not")
        if prev[-2] in MORE or prev[-2] in LESS:
            floor = (prev[-2] in MORE) != negated
            return "floor" if floor else "ceiling"
        return None
    if prev[-1] in FLOOR_BEFORE:
        return "floor"
    if prev[-1] in CEILING_BEFORE:
        return "ceiling"
    return None


def _bound_after(toks: Sequence[Token], j: int) -> tuple[Literal["floor", "ceiling"], int] | None:
    """"N+", "N or better", "N and up" (and the ceilings): the bound and the end of it."""
    if j < len(toks) and toks[j].low == "+":
        return "floor", j + 1
    if j + 1 < len(toks) and toks[j].low in ("or", "and"):
        word = toks[j + 1].low
        if word in MORE:
            return "floor", j + 2
        if word in LESS:
            return "ceiling", j + 2
    return None


def _scale(toks: Sequence[Token], j: int) -> tuple[float, int] | None:
    """"/5" or "out of 5" after a number: the top of its scale, and the end of it."""
    if j < len(toks) and toks[j].low == "/":
        k = j + 1
    elif [t.low for t in toks[j:j + 2]] == ["out", "of"]:
        k = j + 2
    else:
        return None
    return _number(toks, k) if k < len(toks) else None


def _context(toks: Sequence[Token], start: int, end: int) -> tuple[str, ...]:
    """Words in and next to a quantity (within the same clause): what it may measure."""
    out = [t.low for t in toks[start:end] if t.low.isalpha()]
    for rng in (range(start - 1, max(-1, start - QUANTITY_CONTEXT - 1), -1),
                range(end, min(len(toks), end + QUANTITY_CONTEXT))):
        for k in rng:
            if not toks[k].is_word and toks[k].low not in ("-", "+", "/"):
                break
            if toks[k].low.isalpha():
                out.append(toks[k].low)
    return tuple(out)


def read_quantities(toks: Sequence[Token], used: list[bool]) -> list[Quantity]:
    """Bounded numbers: a number with a comparative of amount before or after it; a
    number given on a scale ("4/5") bounds from below. Marks the tokens read."""
    out: list[Quantity] = []
    i = 0
    while i < len(toks):
        number = None if used[i] else _number(toks, i)
        if number is None:
            i += 1
            continue
        value, j = number
        bound = _bound_before(toks, i)
        scale = _scale(toks, j)
        top = None
        if scale is not None:
            top, j = scale
        after = _bound_after(toks, j)
        if after is None and j < len(toks) and toks[j].low.isalpha():
            after = _bound_after(toks, j + 1)  # a unit between: "4 stars or more"
        if after is not None:
            bound, j = after[0], after[1]
        if bound is None and top is not None:
            bound = "floor"
        if bound is None:
            i = j
            continue
        out.append(Quantity(bound, value, _context(toks, i, j), top))
        for k in range(i, j):
            used[k] = True
        i = j
    return out


def read_count(toks: Sequence[Token], used: list[bool], heads: set[int]) -> int | None:
    """How many items the message asks for: a number as the determiner of what is asked
    for ("two comedies", "3 more", "a single western"): right before a head (``heads``: where
    a category, a tag or the catalog's noun starts; a few words may stand between), not
    after a determiner ("those two"), a name or another mention ("war 2"), not partitive
    ("one of the best") unless of the items shown ("just two of them")."""
    for i, t in enumerate(toks):
        if used[i] or t.low not in CARDINALS and not (t.low.isdigit() and len(t.low) <= 3):
            continue
        n = CARDINALS.get(t.low) or int(t.low)
        if not 1 <= n <= MAX_COUNT or any(w in DETERMINERS for w in _before(toks, i, 2)):
            continue
        if i > 0 and (used[i - 1] or (toks[i - 1].is_word and toks[i - 1].capital
                                      and not toks[i - 1].sentence_start)):
            continue
        nxt = toks[i + 1].low if i + 1 < len(toks) else ""
        if nxt == "more" and (i + 2 >= len(toks) or toks[i + 2].low != "than"):
            return n
        if _of_those(toks, i + 1) and (i == 0 or toks[i - 1].low in RESTRICTIVE
                                       or not toks[i - 1].is_word):
            return n
        if _bare(toks, i) and (n > 1 or (i > 0 and toks[i - 1].low in RESTRICTIVE)):
            return n
        for k in range(i + 1, min(len(toks), i + 4)):
            if k in heads:
                return n
            if toks[k].low == "of" or not toks[k].is_word or _number(toks, k) is not None:
                break
    return None


def _of_shown(toks: Sequence[Token], j: int) -> bool:
    """A partitive of the items shown at ``j``: "of them", "of those", "of these"."""
    return toks[j].low == "of" and j + 1 < len(toks) and toks[j + 1].low in SHOWN_PRONOUNS


def _bare(toks: Sequence[Token], i: int) -> bool:
    """A number standing for the items themselves ("just two", "give me 3 please"): only
    function words between it and the clause's edges on both sides, and a focus particle,
    a function word or the clause's start right before it."""
    before = toks[i - 1] if i > 0 else None
    if before is not None and before.is_word and before.low not in RESTRICTIVE \
            and before.low not in stop_words():
        return False
    j = i + 1
    while j < len(toks) and toks[j].is_word:  # not a comparison ("seven more than that")
        if toks[j].low not in stop_words() or toks[j].low in MORE or toks[j].low == "than":
            return False
        j += 1
    return True


def _of_those(toks: Sequence[Token], j: int) -> bool:
    """A partitive of the items already there closing the clause at ``j`` ("two of them",
    "only three of those"): how many of them to keep, when the number opens its clause or
    a restrictive particle is before it and the clause ends there or a word later (not "I
    liked one of them", "only one of them was good")."""
    if j >= len(toks) or not _of_shown(toks, j):
        return False
    after = 0  # words after it in its clause: at most one ("please"), not a clause of its own
    while j + 2 + after < len(toks) and toks[j + 2 + after].is_word:
        after += 1
    return after <= 1


# ---- adding to a request, or starting another --------------------------------------------
# additive focus words: the clause adds to what was asked ("also a western", "horror too")
ADDITIVE = frozenset({"also", "additionally", "plus"})
ADDITIVE_AT_END = frozenset({"too"})  # "too" closing a clause; before a word it is a degree
CONTINUING = frozenset({"and", "with", "plus"})  # a clause opened by these goes on with one
SENTENCE_MARKS = frozenset({".", "!", "?", ";", ":"})
GOVERNING_ADD = frozenset({"with"})  # governing a kind: it goes with the one sought
GOVERNING_REACH = 4  # words a preposition governs across ("with a bit more X")


def _sentence_end(toks: Sequence[Token], k: int) -> bool:
    """Token ``k`` ends a sentence: a sentence mark, or a dash standing apart ("up - I")."""
    t = toks[k]
    if t.low in SENTENCE_MARKS:
        return True
    spaced = (k == 0 or toks[k - 1].end < t.start) and (
        k + 1 >= len(toks) or t.end < toks[k + 1].start)
    return t.low in ("-", "\u2013", "\u2014") and spaced


def sentence_of(toks: Sequence[Token], i: int) -> tuple[int, int]:
    """The token span of the sentence holding token ``i``."""
    a = i
    while a > 0 and not _sentence_end(toks, a - 1):
        a -= 1
    b = i
    while b < len(toks) and not _sentence_end(toks, b):
        b += 1
    return a, b


def _comma_clause(toks: Sequence[Token], i: int, a: int, b: int) -> tuple[int, int]:
    """The stretch of ``a:b`` around ``i`` between marks that are not inside a word."""
    def inside(k: int) -> bool:  # a word, or a mark joining two ("sci-fi")
        return toks[k].is_word or (a < k < b - 1 and toks[k - 1].end == toks[k].start
                                   and toks[k].end == toks[k + 1].start)

    lo, hi = i, i
    while lo > a and inside(lo - 1):
        lo -= 1
    while hi < b and inside(hi):
        hi += 1
    return lo, hi


def adds_on(toks: Sequence[Token], i: int) -> bool:
    """Whether what is said at token ``i`` adds to the request under way rather than
    stating one of its own: its sentence has an additive word ("also", "as well", "X too"),
    opens with a continuing word ("and ...", "with ..."), "with" governs it ("maybe with
    more X"), or its clause speaks of the item already sought or shown ("make it X", "with
    some X in it", "any of those a X?")."""
    a, b = sentence_of(toks, i)
    words = [(k, toks[k].low) for k in range(a, b) if toks[k].is_word]
    if words and words[0][1] in CONTINUING:
        return True
    for n, (k, w) in enumerate(words):
        last = k + 1 >= b or not toks[k + 1].is_word
        if w in ADDITIVE or w in ADDITIVE_AT_END and last:
            return True
        if w == "well" and last and n > 0 and words[n - 1][1] == "as":
            return True
    lo, hi = _comma_clause(toks, i, a, b)
    if any(toks[k].low in GOVERNING_ADD for k in range(max(lo, i - GOVERNING_REACH), i)):
        return True  # "with (a bit more) X": X goes with what is sought
    if any(_of_shown(toks, k) for k in range(lo, hi)):
        return True  # "any of those a X?": of the items shown
    return any(t.low == "it" or t.low == "its" and t.contraction for t in toks[lo:hi])
