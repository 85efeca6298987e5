"""Writing the reply from the final candidates: a template (rules backend, and the fallback),
or the LLM, streamed. Whatever writes it, the reply may only name items that are among the
returned recommendations: :func:`agent.reply_check.check_reply` checks, and a reply that fails
is replaced by the template (the trace records it). The LLM's prompt is in
:mod:`agent.reply_prompt`.

The template reply says what was found in the catalog's own words (its item noun and verb,
``RECAGENT_ITEM_NOUN`` / ``RECAGENT_ITEM_VERB``) and one sentence on why the list fits; it
holds no list. A client with cards (the widget, ``POST /v1/chat``) shows the cards under it;
a client without (the terminal, the OpenAI facade) shows :func:`numbered_list` — a numbered
line with a reason each. Each card carries its own reason (:func:`card_reason`): which of the
conditions the plan applied the item meets and what ordered it (a liked item, popularity,
the user's taste) — never empty, never the whole filter repeated. Neither claims more than
the plan applied: no "as you asked", since a wish no filter expresses ("but not Disney")
may not have been applied at all.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from pydantic import PrivateAttr

from agent.types import Recommendation
from agent.understanding.policy import Words
from agent.vocabulary import norm

TEMPLATE_NAMED = 3  # the template reply names at most this many; the cards carry the list
_WORD_RE = re.compile(r"[\w']+")
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve")


class Card(Recommendation):
    """A recommendation with what the reply writer needs besides the public fields: the
    basis the list was ranked on ("people who liked Heat", "your taste", "popularity"),
    kept out of the API's JSON."""

    _basis: str = PrivateAttr(default="")

    @property
    def basis(self) -> str:
        return self._basis

    def with_basis(self, basis: str) -> Card:
        self._basis = basis
        return self


# ---- words ---------------------------------------------------------------------------------
def number_word(n: int) -> str:
    """"no", "one" … "twelve", then digits."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def count_words(n: int, one: str, many: str) -> str:
    """``count_words(1, "pick", "picks")`` -> "one pick"; 3 -> "three picks"; 14 -> "14 picks"."""
    return f"{number_word(n)} {one if n == 1 else many}"


def join_words(words: Sequence[str], conj: str = "and") -> str:
    """"A", "A and B", "A, B and C"."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conj} " + words[-1]


def period(year_min: int | None, year_max: int | None) -> str:
    """A year range in words: "from the 1990s", "from the 1940s and earlier", "from 1995",
    "from 1985 to 1995", "from the 1960s and 1970s", "from the 2000s on", "after 1980",
    "from 1950 or earlier"; "" without bounds."""
    lo, hi = year_min, year_max
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        if lo == hi:
            return f"from {lo}"
        if lo % 10 == 0 and hi == lo + 9:
            return f"from the {lo}s"
        if lo % 100 == 0 and hi == lo + 99:
            return f"from the {lo // 100 + 1}th century"
        if lo % 10 == 0 and hi == lo + 19:
            return f"from the {lo}s and {hi - 9}s"
        if lo % 10 == 0 and hi % 10 == 9:
            return f"from the {lo}s to the {hi - 9}s"
        return f"from {lo} to {hi}"
    if hi is not None:
        if hi % 10 == 9:
            return f"from the {hi - 9}s and earlier"
        return f"from {hi} or earlier"
    assert lo is not None
    if lo % 10 == 0:
        return f"from the {lo}s on"
    if lo % 10 == 1:  # the year after a round one: "after 1980"
        return f"after {lo - 1}"
    return f"from {lo} on"


def _describe_filter(f: Any) -> str:
    cats = _filter_categories(f)
    when = period(getattr(f, "year_min", None), getattr(f, "year_max", None))
    parts = [text for text in (cats, when) if text] + _filter_conditions(f)
    if not parts:
        return ""
    # "Mystery from the 1930s" reads as one phrase; the rest is joined with commas
    head = parts[0]
    if len(parts) > 1 and parts[1].startswith("from ") and cats:
        head = f"{parts[0]} {parts[1]}"
        parts = parts[2:]
    else:
        parts = parts[1:]
    return ", ".join([head, *parts])


def _filter_categories(f: Any) -> str:
    """The categories a filter asks for: all of some ("and"), then one of others ("or")."""
    cats = ""
    if getattr(f, "categories_all", None):
        cats = join_words(list(f.categories_all), "and")
    if getattr(f, "categories_any", None):
        any_text = join_words(list(f.categories_any), "or")
        cats = f"{cats}, {any_text}" if cats else any_text
    return cats


def _filter_conditions(f: Any) -> list[str]:
    """A filter's other conditions in words: categories excluded, tags, rating, popularity,
    attributes."""
    parts: list[str] = []
    if getattr(f, "categories_none", None):
        parts.append("no " + join_words(list(f.categories_none), "or"))
    if getattr(f, "tags_all", None):
        parts.append("about " + join_words(list(f.tags_all), "and"))
    if getattr(f, "min_rating", None) is not None:
        parts.append(f"rated {f.min_rating:g} or better")
    if getattr(f, "popularity_pct_min", None) is not None:
        parts.append("well known")
    if getattr(f, "popularity_pct_max", None) is not None:
        parts.append("less known")
    for key, value in (getattr(f, "attributes", None) or {}).items():
        parts.append(f"{str(key).replace('_', ' ')} {value}")
    return parts


def describe_request(filters: Sequence[Any], seeds: Sequence[str]) -> str:
    """The hard conditions of a turn in words ("Classic and Mystery from the 1940s and
    earlier, no Horror"), plus "like X" for seeds; "" when there are none."""
    parts = [_describe_filter(f) for f in filters]
    text = "; ".join(p for p in parts if p)
    if seeds:
        text = (text + "; " if text else "") + "like " + join_words(list(seeds[:3]))
    return text


def _merged(filters: Sequence[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for f in filters:
        for v in getattr(f, name, None) or ():
            if v not in out:
                out.append(v)
    return out


def request_phrase(filters: Sequence[Any], n: int, words: Words | None = None) -> str:
    """The found items as one noun phrase of the catalog's words, counted: "ten Comedy movies
    from the 1980s without Romance", "one Fantasy book from 1996", "four books about
    wizards"; "" when the filters ask for nothing."""
    w = words or Words()
    cats_all, cats_any = _merged(filters, "categories_all"), _merged(filters, "categories_any")
    cats_or = join_words(cats_any, "or")
    cats = join_words([*cats_all, cats_or]) if cats_all else cats_or
    lows = [f.year_min for f in filters if getattr(f, "year_min", None) is not None]
    highs = [f.year_max for f in filters if getattr(f, "year_max", None) is not None]
    when = period(max(lows) if lows else None, min(highs) if highs else None)
    before = []
    if any(getattr(f, "popularity_pct_min", None) is not None for f in filters):
        before.append("well-known")
    if any(getattr(f, "popularity_pct_max", None) is not None for f in filters):
        before.append("lesser-known")
    after = [when] if when else []
    tags = _merged(filters, "tags_all")
    if tags:
        after.append("about " + join_words(tags))
    ratings = [f.min_rating for f in filters if getattr(f, "min_rating", None) is not None]
    if ratings:
        after.append(f"rated {max(ratings):g} or better")
    for f in filters:
        for key, value in (getattr(f, "attributes", None) or {}).items():
            after.append(f"with {str(key).replace('_', ' ')} {value}")
    none = _merged(filters, "categories_none")
    if none:
        after.append("without " + join_words(none, "or"))
    if not (cats or after or before):
        return ""
    noun = w.noun if n == 1 else w.plural
    return " ".join(p for p in (number_word(n), *before, cats, noun, *after) if p)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _kind(categories: Sequence[str], noun: str, year: int | None) -> str:
    """"an Action Thriller movie from 1995": the categories as modifiers of the catalog's
    noun (so any category name reads well: "a Horror book", "a Documentary movie")."""
    cats = " ".join(categories)
    text = f"{cats} {noun}" if cats else noun
    text = f"{_article(text)} {text}"
    return text + (f" from {year}" if year else "")


def period_label(year_min: int | None, year_max: int | None) -> str:
    """A year range as the object of "matching": "the 1990s", "1995", "1985 to 1995",
    "the 1940s and earlier", "the years after 1980"; "" without bounds."""
    text = period(year_min, year_max)
    if text.startswith("after "):
        return "the years " + text
    return text.removeprefix("from ")


def card_reason(
    *,
    categories: Sequence[str] = (),
    year: int | None = None,
    asked_categories: Sequence[str] = (),
    period_met: str = "",
    rating_met: float | None = None,
    liked: str = "",
    shared: Sequence[str] = (),
    because_liked: bool = False,
    personal: bool = False,
    matched: Sequence[str] = (),
    ranked: str = "",
    rating_avg: float | None = None,
    rating_count: int = 0,
    noun: str = "item",
) -> str:
    """Why one card fits, in words about this card, claiming only what the plan applied:
    which of the applied conditions it meets ("a Thriller movie from 1995, matching
    Thriller and the 1990s": the card's own year and, beside the filtered category, one
    more of its own, so the filter is not pasted on every card; ``period_met``: the
    filtered period the card's year is in, as :func:`period_label` writes it;
    ``rating_met``: the rating floor it meets) and what ordered it ("because you liked
    Heat", "popular with people who liked Heat", "tagged heist", ``ranked``: "popularity"
    or "rating" when the list was ordered by that). ``shared``: the categories the card
    shares with the liked item; ``noun``: the catalog's word for an item. Never empty."""
    asked = {norm(c) for c in asked_categories}
    own = [c for c in categories if norm(c) in asked]
    met = [*own, *([period_met] if period_met else [])]
    if rating_met is not None:
        met.append(f"a rating of {rating_met:g} or better")
    first = ""
    if own:
        extra = [] if len(own) > 1 else [c for c in categories if norm(c) not in asked][:1]
        shown = [c for c in categories if c in own[:2] or c in extra]  # in the card's order
        first = _kind(shown, noun, year)
    elif met:
        first = _kind(list(categories[:2]), noun, year) if categories else (
            f"from {year}" if year else "")
    elif liked and shared:
        first = _kind(list(shared[:2]), noun, year)
    if met:
        first = (first + ", matching " if first else "Matching ") + join_words(met)
    text = " — ".join(p for p in (first, _ordered_by(
        liked=liked, because_liked=because_liked, matched=matched, personal=personal,
        ranked=ranked, rating_avg=rating_avg, rating_count=rating_count)) if p)
    if not text:
        if rating_avg is not None and rating_count:
            text = f"rated {rating_avg:.1f}/5 by {count_words(rating_count, 'person', 'people')}"
        elif categories:
            text = _kind(list(categories[:2]), noun, year)
        else:
            text = "one of the best matches for your request"
    return text[:1].upper() + text[1:]


def _ordered_by(*, liked: str, because_liked: bool, matched: Sequence[str], personal: bool,
                ranked: str, rating_avg: float | None, rating_count: int) -> str:
    """What put a card where it is in the list, in words ("" when nothing says)."""
    if liked:
        return f"because you liked {liked}" if because_liked else (
            f"popular with people who liked {liked}")
    if matched:
        return "tagged " + join_words([f"“{m}”" for m in matched[:2]])
    if personal:
        return "close to what you have rated before"
    rated = (f"rated {rating_avg:.1f}/5 by {rating_count} people"
             if rating_avg is not None and rating_count >= 3 else "")
    if ranked:
        return f"ranked by {ranked}" + (f", {rated}" if rated else "")
    return rated


def numbered_list(recs: Sequence[Recommendation], indent: str = "  ") -> str:
    """The recommendations as a numbered list with a reason each (for clients without cards:
    the terminal; the OpenAI facade writes the same as markdown)."""
    lines = []
    for k, r in enumerate(recs, 1):
        year = f" ({r.year})" if r.year and f"({r.year})" not in r.title else ""
        lines.append(f"{indent}{k:>2}. {r.title}{year}" + (f" — {r.reason}" if r.reason else ""))
    return "\n".join(lines)


def _pick(options: Sequence[str], key: str) -> str:
    """One of ``options``, the same for the same ``key`` (replies vary, tests stay stable)."""
    return options[zlib.crc32(key.encode()) % len(options)]


def _why(recs: Sequence[Recommendation], words: Words) -> str:
    """One sentence on why the list fits (from the basis the cards were ranked on)."""
    top = recs[0].title
    if len(recs) == 1:
        return f"The best match is {top}."
    kind, subject = "", ""
    bases = [r.basis for r in recs if isinstance(r, Card) and r.basis]
    if bases:
        kind, _, subject = max(sorted(set(bases)), key=bases.count).partition(":")
    # the liked title itself stays on the cards: a reply names recommended items only
    several = len({b for b in bases if b.startswith(("liked:", "similar:"))}) > 1
    seed = words.plural if several else words.noun
    if kind == "liked" and subject:
        return _pick((
            f"People who enjoyed the {seed} you liked rated these highest; {top} leads "
            "the list.",
            f"They are what fans of the {seed} you liked enjoyed most, starting with {top}.",
        ), top)
    if kind == "similar" and subject:
        return _pick((
            f"People who liked the {seed} you named rated these highest; {top} leads the list.",
            f"They are what fans of the {seed} you named enjoyed most, starting with {top}.",
        ), top)
    if kind == "personal":
        return f"They are ordered by your taste, with {top} first."
    if kind == "text" and subject:
        return f"The closest matches to “{subject}” come first, starting with {top}."
    if kind == "popular":
        return _pick((
            f"The best known and best rated come first, starting with {top}.",
            f"Most people's favourites come first; {top} leads.",
        ), top)
    return f"The best matches come first, starting with {top}."


def template_reply(
    recs: Sequence[Recommendation],
    *,
    about: str = "",
    filters: Sequence[Any] = (),
    words: Words | None = None,
    info: Sequence[dict[str, Any]] = (),
    clarify: str = "",
    unresolved: Sequence[str] = (),
    note: str = "",
) -> str:
    """The reply without an LLM (names only items in ``recs``): what was found, in the
    catalog's words (``words``; ``filters``: the turn's hard conditions), and one sentence
    on why it fits — no list, so it reads the same above the widget's cards and above the
    numbered list of a client without cards (:func:`numbered_list`). ``about``: the
    conditions as :func:`describe_request` writes them, used when ``filters`` are not given.
    ``note``: a line from the planner (a relaxed criterion, a follow-up question) added at
    the end."""
    if clarify:
        return clarify
    w = words or Words()
    lines = []
    if unresolved:
        names = join_words([f'"{u}"' for u in unresolved[:3]], "or")
        lines.append(f"I could not find {names} in the catalog.")
    if info:
        for v in info[:3]:
            rating = (
                f"rated {v['rating_avg']:.1f}/5 by "
                f"{count_words(int(v['rating_count']), 'person', 'people')}"
                if v.get("rating_avg") is not None
                else "not rated yet"
            )
            cats = join_words(list(v.get("categories") or [])) or "no category"
            year = v.get("year")
            line = f"{v['title']}" + (f" ({year})" if year else "") + f": {cats}; {rating}."
            if v.get("tags"):
                line += " Tagged " + join_words(list(v["tags"][:5])) + "."
            if v.get("description"):
                line += " " + str(v["description"])[:200]
            lines.append(line)
        return " ".join(lines)
    n = len(recs)
    phrase = request_phrase(filters, n, w)
    if not recs:
        wanted = phrase.removeprefix("no ") if phrase else ""
        lines.append(
            (f"I found no {wanted} in the catalog." if wanted else
             f"Nothing in the catalog matches {about}." if about else
             f"I found no {w.plural} that fit.")
            + f" Try dropping a condition or naming a {w.noun} you liked."
        )
        if note:
            lines.append(note)
        return " ".join(lines)
    key = "|".join(r.item_id for r in recs[:3])
    be = "is" if n == 1 else "are"
    if not phrase and about:
        phrase = f"{count_words(n, w.noun, w.plural)} for {about}"
    if phrase:
        # what the applied conditions select, never "as you asked": a wish the plan could
        # not express (a negation no filter has) would be claimed met
        head = _pick((
            f"Here {be} {phrase}.",
            f"I found {phrase}.",
            f"{'This' if n == 1 else 'These'} {be} {phrase}.",
        ), key)
    else:
        some = count_words(n, w.noun, w.plural)
        head = _pick((
            f"Here {be} {some} for you.",
            f"I found {some} you might like to {w.verb}.",
        ), key)
    lines.append(head)
    lines.append(_why(recs, w))
    if note:
        lines.append(note)
    return " ".join(lines)


_IMAGE_KEYS = ("image", "img", "cover", "poster", "thumbnail", "picture", "photo")


def _usable_url(value: Any) -> str | None:
    text = str(value).strip() if isinstance(value, str) else ""
    if text.startswith(("https://", "http://", "/")) or text.startswith("data:image/"):
        return text[:2000]
    return None


def media_of(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    """A link and a picture among an item's free attributes: the first URL-valued attribute
    whose name speaks of an image is the picture, the first other URL (``url``, ``link``,
    ``*_url`` names first) the link."""
    link = image = None
    keys = sorted(attributes, key=lambda k: (not (k in ("url", "link") or k.endswith(
        ("_url", "_link"))), k))
    for key in keys:
        url = _usable_url(attributes[key])
        if url is None:
            continue
        if any(w in key.lower() for w in _IMAGE_KEYS):
            image = image or url
        elif not url.startswith("data:"):
            link = link or url
    return link, image


@functools.cache
def _verbs() -> tuple[str, dict[str, str]]:
    data = json.loads(resources.files("agent").joinpath("item_verbs.json").read_text("utf-8"))
    table = {norm(noun): verb for verb, nouns in data["verbs"].items() for noun in nouns}
    return str(data["default"]), table


def default_verb(noun: str) -> str:
    """What one does with an item called ``noun`` when ``RECAGENT_ITEM_VERB`` is not set:
    "watch" a movie, "read" a book, "buy" a product (from ``agent/item_verbs.json``; the
    last word of a compound noun counts: "paperback novel" -> "read"); "try" otherwise."""
    default, table = _verbs()
    key = norm(noun)
    return table.get(key) or table.get(key.rsplit(" ", 1)[-1]) or default
