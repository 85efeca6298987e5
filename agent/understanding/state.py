"""Dialogue state: the request a conversation has built up, turn by turn.

Criteria accumulate within a request and reset when the user starts a new one after the
last one was closed (accepted, thanked for). A message that asks for a kind of item of its
own, without adding it to what was asked, is a new request too: its categories replace the
old ones (after turning away from the old request, "forget that.", nothing is kept); one
that adds ("also ...", "... too", "make it ...") or only narrows (a period, "no horror")
refines the request under way. Within a request, conflicting criteria are not
guessed away: when they leave nothing, the policy relaxes the oldest first. Only what the
catalog grounded is carried to later turns: a title that did not resolve, or a free word, is
used (and reported) in its own turn only. A restated period
replaces the old one; "older"/"newer" is relative to the years of the last list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agent.understanding import grammar
from agent.understanding.grammar import Quantity, YearRange
from agent.understanding.grounding import Mention
from agent.understanding.reader import Reading

MAX_SEEDS = 10


@dataclass
class Request:
    wanted: list[str] = field(default_factory=list)  # categories, oldest first
    any_of: list[str] = field(default_factory=list)  # "a mystery or a western": one of them
    avoided: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    tags: list[str] = field(default_factory=list)  # catalog tags wanted (soft)
    soft_avoid: list[str] = field(default_factory=list)  # tags / words pushed down
    seeds: list[str] = field(default_factory=list)  # item ids the request is "like"
    quantities: list[Quantity] = field(default_factory=list)  # "rated 4 or better"
    # this turn only
    count: int | None = None  # how many items this message asks for ("two comedies")
    words: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)  # titles to resolve by name
    liked: list[str] = field(default_factory=list)  # item ids or titles
    disliked: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)
    liked_refs: list[int] = field(default_factory=list)
    disliked_refs: list[int] = field(default_factory=list)
    turns: int = 0  # messages that built this request

    @property
    def has_conditions(self) -> bool:
        return bool(self.wanted or self.any_of or self.avoided or self.year_min is not None
                    or self.year_max is not None or self.tags or self.seeds or self.words
                    or self.lookups or self.refs or self.liked_refs or self.quantities)

    def next_turn(self) -> Request:
        """What carries over to the next message."""
        return Request(list(self.wanted), list(self.any_of), list(self.avoided), self.year_min,
                       self.year_max,
                       list(self.tags), list(self.soft_avoid), list(self.seeds),
                       list(self.quantities), turns=self.turns)


def _add(items: list[str], new: Sequence[str]) -> None:
    for x in new:
        if x not in items:
            items.append(x)


def update(state: Request, reading: Reading, *, closed: bool = False,
           last_years: Sequence[int] = ()) -> Request:
    """The request after ``reading`` (``closed``: the previous request was accepted or
    ended, so a message with criteria starts a new one)."""
    g = reading.grounding
    fresh = state.turns > 0 and closed and bool(
        g.of("category") or g.of("tag") or g.years.given or reading.titles() or g.quantities)
    renews = _renews(reading) if state.turns > 0 and not fresh else None
    fresh = fresh or renews == "anew"
    req = Request(avoided=list(state.avoided)) if fresh else state.next_turn()
    if renews == "categories":  # its own kind of item: the categories asked before go
        req.wanted, req.any_of = [], []
    if reading.social:
        return req
    req.turns += 1
    req.count = g.count
    if g.quantities:  # a restated bound replaces the old ones
        req.quantities = list(g.quantities)
    _update_categories(req, g.of("category"))
    _update_period(req, g.years, last_years)
    _update_soft(req, g.of("tag") + g.of("word"))
    _update_titles(req, reading.titles())
    _update_refs(req, reading)
    return req


def _renews(reading: Reading) -> Literal["categories", "anew"] | None:
    """Whether the message states a request of its own instead of refining the one under
    way: it asks for a kind of item (a wanted category) without adding it to what was asked
    (no additive word, nothing said of "it": see :func:`grammar.adds_on`) and not as a
    question about an item it names ("is Heat a western?"; "what about westerns" is a
    request of its own). Turning away
    first (a sentence before it that names nothing: "forget that.", or a message the act
    model reads as a rejection) starts the request anew; otherwise the new categories
    replace the old ones and the rest carries on."""
    g = reading.grounding
    wanted = [m for m in g.of("category") if m.stance == "wanted"]
    about_item = reading.inquiry and bool(g.refs or g.of("title"))
    if not wanted or about_item or grammar.adds_on(g.tokens, wanted[0].start):
        return None
    start, _end = grammar.sentence_of(g.tokens, wanted[0].start)
    named_before = any(m.start < start and m.kind != "word" for m in g.mentions)
    turned_away = start > 0 and not named_before or reading.acts.top == "REJ"
    return "anew" if turned_away else "categories"


def _update_categories(req: Request, cats: Sequence[Mention]) -> None:
    """Categories wanted and avoided; a later statement overrides an earlier one, and
    alternatives ("a mystery or a western") replace the categories wanted before."""
    wanted = [m.value for m in cats if m.stance != "avoided"]
    avoided = [m.value for m in cats if m.stance == "avoided"]
    if len(wanted) > 1 and any(m.alternative for m in cats):
        req.any_of, wanted = wanted, []  # alternatives: one of them, instead of the others
        req.wanted = [c for c in req.wanted if c not in req.any_of]
    _add(req.wanted, wanted)
    _add(req.avoided, avoided)
    req.wanted = [c for c in req.wanted if c not in avoided]
    req.avoided = [c for c in req.avoided if c not in wanted]


def _update_period(req: Request, years: YearRange, last_years: Sequence[int]) -> None:
    """A restated period replaces the old one; "older" / "newer" is relative to the years of
    the last list."""
    if years.relative and last_years:
        if years.relative == "older":
            req.year_min, req.year_max = None, min(last_years) - 1
        else:
            req.year_min, req.year_max = max(last_years) + 1, None
    elif years.year_min is not None or years.year_max is not None:
        req.year_min, req.year_max = years.year_min, years.year_max


def _update_soft(req: Request, mentions: Sequence[Mention]) -> None:
    """Tags and free words: wanted (tags carried on, words this turn only) or pushed down."""
    for m in mentions:
        if m.stance == "soft_avoid":
            _add(req.soft_avoid, [m.value])
        elif m.kind == "tag":
            _add(req.tags, [m.value])
        else:
            _add(req.words, [m.value])
    req.tags = [t for t in req.tags if t not in req.soft_avoid]


def _update_titles(req: Request, titles: Sequence[Mention]) -> None:
    """Titles: looked up by name when the catalog's index does not hold them; disliked, seen
    or liked; the others seed the request ("like X")."""
    for m in titles:
        if m.item_id is None:
            # not in the catalog's title index: looked up (and reported) in this turn only
            _add(req.lookups, [m.value])
            continue
        if m.stance == "disliked":
            _add(req.disliked, [m.item_id])
            req.seeds = [s for s in req.seeds if s != m.item_id]
            continue
        if m.stance == "seen":
            _add(req.seen, [m.item_id])
            continue
        if m.stance == "liked":
            _add(req.liked, [m.item_id])
        _add(req.seeds, [m.item_id])
    req.seeds = req.seeds[-MAX_SEEDS:]


def _update_refs(req: Request, reading: Reading) -> None:
    """References to the last list, liked, disliked or just pointed at."""
    g = reading.grounding
    if not g.refs:
        return
    if g.sentiment <= -0.05 or reading.acts.top == "REJ":
        req.disliked_refs = list(g.refs)
    elif g.sentiment >= 0.05:
        req.liked_refs = list(g.refs)
    else:
        req.refs = list(g.refs)
