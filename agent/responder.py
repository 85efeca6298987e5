"""Writing the reply from the final candidates: a template (rules backend, and the fallback),
or the LLM, streamed. Whatever writes it, the reply may only name items that are among the
returned recommendations: :func:`named_outside` checks, and a reply that fails is replaced
by the template (the trace records it).

The template reply is written for a client that shows the recommendations as cards (the
widget, ``POST /v1/chat``): one sentence saying what was found, one saying why the list fits,
and no list. Clients without cards (the terminal) print :func:`numbered_list` after it. Each
card carries its own reason (:func:`card_reason`): what of the request the item meets and
which liked item pulled it up — never empty, never the whole filter repeated.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import PrivateAttr

from agent.types import Recommendation
from agent.vocabulary import Vocabulary, norm

REPLY_SYSTEM = (
    "You are a friendly recommender. Write a short reply (at most 3 sentences) to the user's "
    "message presenting the recommendations below. Mention at most 3 of them, by their exact "
    "title. Never name any other title. Do not number or list all of them: the list is shown "
    "separately."
)
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
def count_words(n: int, one: str, many: str) -> str:
    """``count_words(1, "pick", "picks")`` -> "one pick"; 3 -> "three picks"; 14 -> "14 picks"."""
    number = _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)
    return f"{number} {one if n == 1 else many}"


def join_words(words: Sequence[str], conj: str = "and") -> str:
    """"A", "A and B", "A, B and C"."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conj} " + words[-1]


def period(year_min: int | None, year_max: int | None) -> str:
    """A year range in words: "from the 1990s", "from the 1940s and earlier", "from 1995",
    "from 1985 to 1995", "from 2000 on", "from before 1950"; "" without bounds."""
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
    return f"from {lo} on"


def _describe_filter(f: Any) -> str:
    parts: list[str] = []
    cats = ""
    if getattr(f, "categories_all", None):
        cats = join_words(list(f.categories_all), "and")
    if getattr(f, "categories_any", None):
        any_text = join_words(list(f.categories_any), "or")
        cats = f"{cats}, {any_text}" if cats else any_text
    if cats:
        parts.append(cats)
    when = period(getattr(f, "year_min", None), getattr(f, "year_max", None))
    if when:
        parts.append(when)
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


def describe_request(filters: Sequence[Any], seeds: Sequence[str]) -> str:
    """The hard conditions of a turn in words ("Classic and Mystery from the 1940s and
    earlier, no Horror"), plus "like X" for seeds; "" when there are none."""
    parts = [_describe_filter(f) for f in filters]
    text = "; ".join(p for p in parts if p)
    if seeds:
        text = (text + "; " if text else "") + "like " + join_words(list(seeds[:3]))
    return text


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def card_reason(
    *,
    categories: Sequence[str] = (),
    year: int | None = None,
    asked_categories: Sequence[str] = (),
    asked_period: bool = False,
    liked: str = "",
    shared: Sequence[str] = (),
    because_liked: bool = False,
    personal: bool = False,
    matched: Sequence[str] = (),
    rating_avg: float | None = None,
    rating_count: int = 0,
) -> str:
    """Why one card fits, in words about this card: what of the request it meets ("a
    Thriller from 1995, like you asked") and what pulled it up ("because you liked Heat",
    "popular with people who liked Heat", "tagged heist"); ``shared``: the categories the
    card shares with the liked item. Never empty."""
    asked = {norm(c) for c in asked_categories}
    own = [c for c in categories if norm(c) in asked][:2]
    first = ""
    if own:
        first = f"{_article(own[0])} {' '.join(own)}"
        if asked_period and year:
            first += f" from {year}"
        first += ", like you asked"
    elif asked_period and year:
        first = f"from {year}, the years you asked for"
    elif liked and shared:
        first = f"{_article(shared[0])} {' '.join(shared[:2])}" + (f" from {year}" if year else "")
    second = ""
    if liked:
        second = f"because you liked {liked}" if because_liked else (
            f"popular with people who liked {liked}")
    elif matched:
        second = "tagged " + join_words([f"“{m}”" for m in matched[:2]])
    elif personal:
        second = "close to what you have rated before"
    elif rating_avg is not None and rating_count >= 3:
        second = f"rated {rating_avg:.1f}/5 by {rating_count} people"
    text = " — ".join(p for p in (first, second) if p)
    if not text:
        if rating_avg is not None and rating_count:
            text = f"rated {rating_avg:.1f}/5 by {count_words(rating_count, 'person', 'people')}"
        elif categories:
            text = f"{_article(categories[0])} {' '.join(categories[:2])}" + (
                f" from {year}" if year else "")
        else:
            text = "one of the best matches for your request"
    return text[:1].upper() + text[1:]


def numbered_list(recs: Sequence[Recommendation], indent: str = "  ") -> str:
    """The recommendations as a numbered list with a reason each (for clients without cards:
    the terminal)."""
    lines = []
    for k, r in enumerate(recs, 1):
        year = f" ({r.year})" if r.year and f"({r.year})" not in r.title else ""
        lines.append(f"{indent}{k:>2}. {r.title}{year}" + (f" — {r.reason}" if r.reason else ""))
    return "\n".join(lines)


def _pick(options: Sequence[str], key: str) -> str:
    """One of ``options``, the same for the same ``key`` (replies vary, tests stay stable)."""
    return options[zlib.crc32(key.encode()) % len(options)]


def _why(recs: Sequence[Recommendation]) -> str:
    """One sentence on why the list fits (from the basis the cards were ranked on)."""
    top = recs[0].title
    kind, subject = "", ""
    bases = [r.basis for r in recs if isinstance(r, Card) and r.basis]
    if bases:
        kind, _, subject = max(set(bases), key=bases.count).partition(":")
    if kind == "liked" and subject:
        # the liked title itself stays on the cards: a reply names recommended items only
        return _pick((
            f"They are ranked by what people who liked the same title as you enjoyed most, "
            f"so {top} comes first.",
            f"People who liked the title you named rated these highly; {top} leads the list.",
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
    return f"{top} fits best."


def template_reply(
    recs: Sequence[Recommendation],
    *,
    about: str = "",
    info: Sequence[dict[str, Any]] = (),
    clarify: str = "",
    unresolved: Sequence[str] = (),
    note: str = "",
) -> str:
    """The reply without an LLM (names only items in ``recs``), written for a client that
    shows the cards: what was found, why it fits, no list. ``note``: a line from the
    planner (a relaxed criterion, a follow-up question) added at the end."""
    if clarify:
        return clarify
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
    if not recs:
        lines.append(
            (f"Nothing in the catalog matches {about}." if about else
             "I found nothing that fits.")
            + " Try dropping a condition or naming a title you like."
        )
        if note:
            lines.append(note)
        return " ".join(lines)
    n = len(recs)
    picks = count_words(n, "pick", "picks")
    key = "|".join(r.item_id for r in recs[:3])
    if about:
        if about.startswith(("from ", "about ")):
            colon = for_ = f" {about}"
        elif about.startswith("no "):
            colon = for_ = f" with {about}"
        else:
            colon, for_ = f": {about}", f" for {about}"
        head = _pick((
            f"Here {'is' if n == 1 else 'are'} {picks}{colon}.",
            f"I found {picks}{for_}.",
            f"{picks[:1].upper() + picks[1:]}{for_}.",
        ), key)
    else:
        head = _pick((
            f"Here {'is' if n == 1 else 'are'} {picks} for you.",
            f"I found {picks} you might like.",
        ), key)
    lines.append(head)
    lines.append(_why(recs))
    if n > 1:
        lines.append(_pick(("Each card says why.", "Every card has its reason."), key))
    if note:
        lines.append(note)
    return " ".join(lines)


def reply_messages(
    message: str, recs: Sequence[Recommendation], about: str, info_text: str = "",
    instructions: str = "",
) -> list[BaseMessage]:
    """The reply writer's prompt. ``instructions`` (a client's system message) may shape the
    tone and form; the rules of :data:`REPLY_SYSTEM` (name only the listed items) still hold."""
    listing = "\n".join(
        f"- {r.title}"
        + (f" ({r.year})" if r.year else "")
        + (f": {', '.join(r.categories[:3])}" if r.categories else "")
        for r in recs
    )
    body = f"User: {message}\n"
    if about:
        body += f"Conditions applied: {about}\n"
    if info_text:
        body += f"Facts:\n{info_text}\n"
    body += f"Recommendations:\n{listing or '(none found)'}"
    system = REPLY_SYSTEM
    if instructions:
        system += ("\nThe application adds these instructions about style and form (they do "
                   "not change which items you may name):\n" + instructions)
    return [SystemMessage(system), HumanMessage(body)]


def _phrases(text: str) -> set[str]:
    words = norm(text).split()
    out = set()
    for n in range(1, 9):
        for i in range(len(words) - n + 1):
            out.add(" ".join(words[i : i + n]))
    return out


_CAPS = re.compile(
    r"(?<![\w'])(?:[A-Z0-9][\w'\u2019&.-]*)(?:[ \t]+(?:(?:of|the|a|an|and|in|on|to|for|with|at|"
    r"by|from|de|la|le|&)[ \t]+)*[A-Z0-9][\w'\u2019&.-]*)*"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)$")


def _capitalized(reply: str) -> set[str]:
    """Normalised word runs of capitalised phrases (titles are written that way); a single
    word at the start of a sentence is left out (it is capitalised anyway)."""
    out: set[str] = set()
    for m in _CAPS.finditer(reply):
        words = m.group(0).split()
        at_start = bool(_SENTENCE_START.search(reply[: m.start()]))
        for n in range(1, min(len(words), 8) + 1):
            for i in range(len(words) - n + 1):
                if n == 1 and (i == 0 and at_start or len(words[i]) < 3):
                    continue
                key = norm(" ".join(words[i : i + n]))
                if key:
                    out.add(key)
    return out


def named_outside(
    reply: str,
    recs: Sequence[Recommendation],
    *,
    suspects: Iterable[str] = (),
    vocabulary: Vocabulary | None = None,
) -> list[str]:
    """Titles the reply names that are not recommendations.

    ``suspects`` are titles the writer saw (seeds, earlier recommendations, candidates that did
    not make the cut): any of them in the reply counts. With a ``vocabulary``, every catalog
    title of three words or more found in the reply counts too, and shorter ones when they
    are written capitalised (as titles are; plain prose words do not collide). Titles that
    are also words of a recommendation's title (a recommendation "Heat 2" contains "Heat")
    are not counted."""
    phrases = _phrases(reply)
    allowed = {norm(r.title) for r in recs}
    allowed_text = " ".join(sorted(allowed))
    found = []
    for title in suspects:
        key = norm(title)
        if (
            key
            and len(key) >= 3
            and key in phrases
            and key not in allowed
            and key not in allowed_text
        ):
            found.append(title)
    if vocabulary is not None:
        for phrase in phrases:
            if (
                phrase.count(" ") >= 2
                and phrase in vocabulary.titles
                and phrase not in allowed
                and phrase not in allowed_text
            ):
                found.append(phrase)
        for phrase in _capitalized(reply):
            if phrase in vocabulary.titles and phrase not in allowed and phrase not in allowed_text:
                found.append(phrase)
    return sorted(set(found))


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
