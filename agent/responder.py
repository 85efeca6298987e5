"""Writing the reply from the final candidates: a template (rules backend, and the fallback),
or the LLM, streamed. Whatever writes it, the reply may only name items that are among the
returned recommendations: :func:`named_outside` checks, and a reply that fails is replaced
by the template (the trace records it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agent.types import Recommendation
from agent.vocabulary import Vocabulary, norm

REPLY_SYSTEM = (
    "You are a friendly recommender. Write a short reply (at most 3 sentences) to the user's "
    "message presenting the recommendations below. Mention at most 3 of them, by their exact "
    "title. Never name any other title. Do not number or list all of them: the list is shown "
    "separately."
)
TEMPLATE_NAMED = 3  # the template reply names the top few; the cards carry the full list
_WORD_RE = re.compile(r"[\w']+")


def describe_request(filters: Sequence[Any], seeds: Sequence[str]) -> str:
    parts = [f.model_copy(update={"exclude_ids": []}).describe() for f in filters]
    text = "; ".join(p for p in parts if p and p != "no condition")
    if seeds:
        text = (text + "; " if text else "") + "like " + ", ".join(seeds[:3])
    return text


def template_reply(
    recs: Sequence[Recommendation],
    *,
    about: str = "",
    info: Sequence[dict[str, Any]] = (),
    clarify: str = "",
    unresolved: Sequence[str] = (),
    note: str = "",
) -> str:
    """The reply without an LLM (names only items in ``recs``); ``note``: a line from the
    planner (a relaxed criterion, a follow-up question) added after the list."""
    if clarify:
        return clarify
    lines = []
    if unresolved:
        lines.append(
            "I could not find " + ", ".join(f'"{u}"' for u in unresolved[:3]) + " in the catalog."
        )
    if info:
        for v in info[:3]:
            rating = (
                f"rated {v['rating_avg']:.1f}/5 by {v['rating_count']} people"
                if v.get("rating_avg") is not None
                else "not rated yet"
            )
            cats = ", ".join(v.get("categories") or []) or "no category"
            line = f"{v['title']} ({v.get('year') or 'year unknown'}): {cats}; {rating}."
            if v.get("tags"):
                line += " Tags: " + ", ".join(v["tags"][:5]) + "."
            if v.get("description"):
                line += " " + str(v["description"])[:200]
            lines.append(line)
        return " ".join(lines)
    if not recs:
        lines.append(
            "I found nothing that fits"
            + (f" ({about})" if about else "")
            + ". Try loosening a condition or naming a title you like."
        )
        return " ".join(lines)
    head = f"Here are {len(recs)} picks" + (f" ({about})" if about else "") + ":"
    shown = recs[:TEMPLATE_NAMED]
    listing = "; ".join(
        f"{k}. {r.title}" + (f" ({r.year})" if r.year and f"({r.year})" not in r.title else "")
        for k, r in enumerate(shown, 1)
    )
    tail = " — the cards below have the rest." if len(recs) > len(shown) else "."
    lines.append(head + " " + listing + tail)
    if note:
        lines.append(note)
    return " ".join(lines)


def reply_messages(
    message: str, recs: Sequence[Recommendation], about: str, info_text: str = ""
) -> list[BaseMessage]:
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
    return [SystemMessage(REPLY_SYSTEM), HumanMessage(body)]


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
