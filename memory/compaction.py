"""Bounded session size: recent turns verbatim, older ones collapsed into ``session.summary``.

Every store calls :func:`fit` on every save. What it does, in order:

1. caps the ever-growing lists (``shown``, ``feedback``, the profile's likes/dislikes and
   expectations) to their most recent entries -- always, whatever the byte size;
2. if the JSON is still over ``max_bytes``, collapses the oldest messages until the session is
   at most ``TARGET_RATIO * max_bytes`` (head-room, so that not every save compacts again),
   keeping at least the last ``MIN_KEEP_MESSAGES`` verbatim. What was collapsed is remembered
   in ``session.collapsed`` (how many messages, what the user asked, what was recommended) and
   rendered by rules into ``session.summary``; when a ``summarizer`` is given (an LLM), it
   writes the summary instead, and the rules are the fallback when it fails;
3. if that is still not enough (a few enormous messages), collapses down to the last message,
   then shortens message texts, then halves the capped lists -- each step bounded.

The caller's session is never mutated: the result is a new :class:`Session`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from memory.session import (
    CollapsedHistory,
    Expectations,
    Message,
    Session,
    SessionError,
    SessionProfile,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_SHOWN = 500
MAX_FEEDBACK = 200
MAX_PROFILE_ITEMS = 200  # each of liked / disliked
MAX_CATEGORIES = 50
MAX_NOTES = 20
MIN_KEEP_MESSAGES = 4  # two turns
TARGET_RATIO = 0.75
ASK_CHARS = 120
MAX_ASKED = 20
MAX_RECOMMENDED = 100
SUMMARY_ITEMS = 20  # ids listed per line of the rule-based summary
SUMMARIZER_TIMEOUT_S = 20.0

# (previous summary, messages being collapsed now, the session) -> new summary text
Summarizer = Callable[[str, Sequence[Message], Session], Awaitable[str]]


@dataclass(frozen=True)
class Fitted:
    """A session that fits, with its JSON payload (what the store writes)."""

    session: Session
    payload: bytes
    collapsed: int  # messages collapsed by this call


def _tail(items: list[T], n: int) -> list[T]:
    return items if len(items) <= n else items[len(items) - n :]


def cap_lists(session: Session) -> Session:
    """The session with its growing lists cut to their most recent entries (a copy if cut)."""
    shown_n, fb_n, prof_n = MAX_SHOWN, MAX_FEEDBACK, MAX_PROFILE_ITEMS
    p, e = session.profile, session.profile.expectations
    if (
        len(session.shown) <= shown_n
        and len(session.feedback) <= fb_n
        and len(p.liked) <= prof_n
        and len(p.disliked) <= prof_n
        and len(e.wanted_categories) <= MAX_CATEGORIES
        and len(e.avoided_categories) <= MAX_CATEGORIES
        and len(e.notes) <= MAX_NOTES
    ):
        return session
    expectations = e.model_copy(
        update={
            "wanted_categories": _tail(e.wanted_categories, MAX_CATEGORIES),
            "avoided_categories": _tail(e.avoided_categories, MAX_CATEGORIES),
            "notes": _tail(e.notes, MAX_NOTES),
        }
    )
    profile = p.model_copy(
        update={
            "liked": _tail(p.liked, prof_n),
            "disliked": _tail(p.disliked, prof_n),
            "expectations": expectations,
        }
    )
    return session.model_copy(
        update={
            "shown": _tail(session.shown, shown_n),
            "feedback": _tail(session.feedback, fb_n),
            "profile": profile,
        }
    )


def _halve_lists(session: Session) -> Session:
    """The most recent half of each capped list (the same object when all are empty)."""
    p = session.profile
    if not (session.shown or session.feedback or p.liked or p.disliked):
        return session
    profile = p.model_copy(
        update={
            "liked": p.liked[len(p.liked) // 2 :],
            "disliked": p.disliked[len(p.disliked) // 2 :],
        }
    )
    return session.model_copy(
        update={
            "shown": session.shown[len(session.shown) // 2 :],
            "feedback": session.feedback[len(session.feedback) // 2 :],
            "profile": profile,
        }
    )


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def collapse(history: CollapsedHistory, dropped: Sequence[Message]) -> CollapsedHistory:
    """``history`` extended with the messages being collapsed (bounded lists, newest last)."""
    asked = list(history.asked)
    recommended = list(history.recommended)
    for msg in dropped:
        if msg.role == "user" and msg.content.strip():
            asked.append(_shorten(msg.content, ASK_CHARS))
        for item_id in msg.recommendations:
            if item_id in recommended:
                recommended.remove(item_id)
            recommended.append(item_id)
    return CollapsedHistory(
        messages=history.messages + len(dropped),
        asked=_tail(asked, MAX_ASKED),
        recommended=_tail(recommended, MAX_RECOMMENDED),
    )


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[-SUMMARY_ITEMS:])
    more = len(ids) - SUMMARY_ITEMS
    return f"{shown} (and {more} earlier)" if more > 0 else shown


def render_summary(history: CollapsedHistory, session: Session, budget: int = 8192) -> str:
    """The rule-based summary: what was asked and shown earlier, what is liked / disliked.

    At most ``budget`` bytes: the oldest requests are left out first."""
    if history.messages == 0:
        return ""
    head = f"Earlier in this conversation ({history.messages} messages collapsed):"
    tail = _taste_lines(history, session.profile)
    asked = history.asked
    text = ""
    for start in range(len(asked) + 1):  # drop the oldest requests until it fits
        lines = [head]
        if asked[start:]:
            lines.append("- the user asked: " + "; ".join(f'"{a}"' for a in asked[start:]))
        text = "\n".join(lines + tail)
        if len(text.encode()) <= budget:
            return text
    return _shorten_block(text, budget)


def _taste_lines(history: CollapsedHistory, profile: SessionProfile) -> list[str]:
    """The summary's lines after the requests: shown, liked, disliked, expectations."""
    lines: list[str] = []
    if history.recommended:
        lines.append("- recommended then: " + _ids(history.recommended))
    if profile.liked:
        lines.append("- liked: " + _ids(profile.liked))
    if profile.disliked:
        lines.append("- disliked: " + _ids(profile.disliked))
    wants = _expectations(profile.expectations)
    if wants:
        lines.append("- " + "; ".join(wants))
    return lines


def _expectations(e: Expectations) -> list[str]:
    wants = []
    if e.wanted_categories:
        wants.append("wants " + ", ".join(e.wanted_categories))
    if e.avoided_categories:
        wants.append("avoids " + ", ".join(e.avoided_categories))
    if e.year_min is not None or e.year_max is not None:
        wants.append(f"years {e.year_min or '…'}-{e.year_max or '…'}")
    if e.popularity:
        wants.append(f"prefers {e.popularity} items")
    return wants


def _size(session: Session) -> tuple[bytes, int]:
    payload = session.model_dump_json().encode()
    return payload, len(payload)


def _message_size(msg: Message) -> int:
    return len(msg.model_dump_json().encode()) + 1


async def _summary(
    session: Session,
    history: CollapsedHistory,
    dropped: Sequence[Message],
    summarizer: Summarizer | None,
    budget: int,
) -> str:
    if summarizer is not None:
        try:
            text = await asyncio.wait_for(
                summarizer(session.summary, dropped, session), SUMMARIZER_TIMEOUT_S
            )
            if isinstance(text, str) and text.strip():
                return _shorten_block(text.strip(), budget)
            log.warning("session summarizer returned nothing; using the rule-based summary")
        except Exception as exc:  # the LLM is optional: never lose the save over it
            log.warning("session summarizer failed (%s); using the rule-based summary", exc)
    return render_summary(history, session, budget)


def _shorten_block(text: str, budget: int) -> str:
    data = text.encode()
    if len(data) <= budget:
        return text
    return data[: max(0, budget - 3)].decode(errors="ignore") + "…"


async def next_version(session: Session, max_bytes: int, *,
                       summarizer: Summarizer | None = None) -> Fitted:
    """What a store writes when saving ``session``: the next version, stamped now and
    compacted to ``max_bytes`` (both stores; compare-and-set is checked against
    ``session.version``)."""
    return await fit(
        session.model_copy(update={"version": session.version + 1, "updated_at": time.time()}),
        max_bytes,
        summarizer=summarizer,
    )


async def fit(session: Session, max_bytes: int, *, summarizer: Summarizer | None = None) -> Fitted:
    """``session`` compacted so that its JSON is at most ``max_bytes``.

    Raises :class:`SessionError` only if even an emptied session does not fit (a
    ``max_bytes`` far below the 4 KB minimum the settings allow)."""
    s = cap_lists(session)
    payload, size = _size(s)
    if size <= max_bytes:
        return Fitted(s, payload, 0)

    target = int(max_bytes * TARGET_RATIO)
    summary_budget = max(512, max_bytes // 8)
    messages = s.messages
    sizes = [_message_size(m) for m in messages]
    over = size - target + summary_budget // 2  # the summary grows, count on it
    n_drop, freed = 0, 0
    limit = max(0, len(messages) - MIN_KEEP_MESSAGES)
    while n_drop < limit and freed < over:
        freed += sizes[n_drop]
        n_drop += 1
    total_dropped = n_drop
    if n_drop:
        dropped = messages[:n_drop]
        history = collapse(s.collapsed, dropped)
        summary = await _summary(s, history, dropped, summarizer, summary_budget)
        s = s.model_copy(
            update={"messages": messages[n_drop:], "summary": summary, "collapsed": history}
        )
        payload, size = _size(s)

    # Still too big: a few enormous messages or lists. Each step is bounded.
    steps = len(s.messages) + 8
    for _ in range(steps):
        if size <= max_bytes:
            break
        if len(s.messages) > 1:  # collapse one more message (rules only, no LLM call in a loop)
            dropped = s.messages[:1]
            history = collapse(s.collapsed, dropped)
            s = s.model_copy(
                update={
                    "messages": s.messages[1:],
                    "collapsed": history,
                    "summary": render_summary(history, s, summary_budget),
                }
            )
            total_dropped += 1
        elif s.messages and len(s.messages[0].content) > 200:
            last = s.messages[0]
            keep = max(200, len(last.content) - (size - target))
            s = s.model_copy(
                update={
                    "messages": [last.model_copy(update={"content": _shorten(last.content, keep)})]
                }
            )
        elif len(s.summary) > 200:
            s = s.model_copy(update={"summary": _shorten_block(s.summary, len(s.summary) // 2)})
        else:
            halved = _halve_lists(s)
            if halved is s:
                break
            s = halved
        payload, size = _size(s)
    if size > max_bytes:
        raise SessionError(
            f"session {s.id[:6]}... cannot be compacted under {max_bytes} bytes ({size} left)"
        )
    if total_dropped:
        log.debug("session %s...: collapsed %d messages", s.id[:6], total_dropped)
    return Fitted(s, payload, total_dropped)
