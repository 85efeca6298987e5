"""Bounded quantities ("rated 4 or better", "at least 3.5") matched to the numeric bounds the
planner's tools take, read from their own schemas (name, description, range).

The grammar (:func:`agent.understanding.grammar.read_quantities`) knows only that a number
is bounded from below or above and which words stand next to it; what it measures is
whichever bound parameter of ``filter_items`` shares a word stem with those words (or whose
range tops out at the scale the number was given on, "4/5") and whose range admits the
number. A quantity no parameter takes is left out: the tools cannot filter on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.understanding.grammar import Quantity
from agent.vocabulary import stem, stop_words

FILTER_TOOL = "filter_items"
_FLOOR = frozenset({"min", "minimum"})
_CEILING = frozenset({"max", "maximum"})
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Bound:
    """One numeric bound parameter of the filter tool."""

    name: str
    bound: Literal["floor", "ceiling"]
    low: float | None
    high: float | None
    integer: bool
    stems: frozenset[str]

    def admits(self, value: float) -> bool:
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high)
                and (not self.integer or value == int(value)))


def tool_bounds(schemas: Sequence[Mapping[str, Any]], language: str = "en",
                skip: Sequence[str] = ()) -> list[Bound]:
    """The numeric ``min_*`` / ``*_max`` parameters of the filter tool in ``schemas`` (OpenAI
    function schemas), except ``skip`` (those the planner fills from its own grammar)."""
    out: list[Bound] = []
    for schema in schemas:
        fn = schema.get("function", schema)
        if fn.get("name") != FILTER_TOOL:
            continue
        for name, spec in (fn.get("parameters", {}).get("properties") or {}).items():
            if name in skip or spec.get("type") not in ("number", "integer"):
                continue
            parts = name.casefold().split("_")
            direction: Literal["floor", "ceiling"] | None = (
                "floor" if _FLOOR & set(parts) else "ceiling" if _CEILING & set(parts) else None)
            if direction is None:
                continue
            words = parts + _WORD.findall(str(spec.get("description", "")).casefold())
            stems = frozenset(stem(w, language) for w in words
                              if w not in _FLOOR | _CEILING and w not in stop_words())
            out.append(Bound(name, direction, _num(spec.get("minimum")),
                             _num(spec.get("maximum")), spec.get("type") == "integer", stems))
    return out


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def resolve(quantities: Sequence[Quantity], bounds: Sequence[Bound], language: str = "en"
            ) -> dict[str, float]:
    """``filter_items`` arguments for the quantities some bound parameter takes: the one
    sharing most word stems with the quantity's words (the fewest other words on a tie), or
    the one whose range tops out at the quantity's scale."""
    out: dict[str, float] = {}
    for q in quantities:
        said = {stem(w, language) for w in q.words}
        best: tuple[int, int, Bound] | None = None
        for b in bounds:
            if b.bound != q.bound or not b.admits(q.value):
                continue
            shared = len(said & b.stems) + (1 if q.scale is not None and q.scale == b.high else 0)
            if shared and (best is None or (shared, -len(b.stems)) > best[:2]):
                best = (shared, -len(b.stems), b)
        if best is not None:
            out[best[2].name] = int(q.value) if best[2].integer else q.value
    return out
