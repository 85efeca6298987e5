"""The one reply check, used by every path that puts model-written text in front of the user
(the streamed reply, the OpenAI facade which runs the same turn, and a planner's own answer
when it called no tool): a reply may only name catalog items that are among the
recommendations (or that the user named this turn and the lookup resolved).

A catalog title counts as *named* when it appears as a title:

- marked as one: in quotes ("...", “...”), italics or bold (``*...*``, ``_..._``);
- written capitalised, as titles are ("you might like Forrest Gump"); a title made only of
  common words ("Friday", "Heat", "Big") counts this way only when the whole capitalised
  phrase is the title and has two words or more — "Friday night" is not the film *Friday*;
- a specific title of two words or more (rare words: "forrest gump"), even in lower case.

How common a word is comes from the word-frequency tables (:mod:`agent.vocabulary`), never
from a list in code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agent.types import Recommendation
from agent.vocabulary import SPECIFIC_RARITY, Vocabulary, norm, rarity

MAX_TITLE_WORDS = 8
_MARKED = re.compile(
    r'"([^"\n]{2,120})"|\u201c([^\u201d\n]{2,120})\u201d|\*\*([^*\n]{2,120})\*\*'
    r"|(?<![\w*])\*([^*\n]{2,120})\*(?![\w*])|(?<!\w)_([^_\n]{2,120})_(?!\w)"
)
_CAPS = re.compile(
    r"(?<![\w'])(?:[A-Z0-9][\w'\u2019&.-]*)(?:[ \t]+(?:(?:of|the|a|an|and|in|on|to|for|with|at|"
    r"by|from|de|la|le|&)[ \t]+)*[A-Z0-9][\w'\u2019&.-]*)*"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)[\"'\u201c*_(]*$")


def _phrases(text: str) -> set[str]:
    words = norm(text).split()
    return {" ".join(words[i:i + n]) for n in range(1, MAX_TITLE_WORDS + 1)
            for i in range(len(words) - n + 1)}


def _marked(reply: str) -> set[str]:
    out = set()
    for m in _MARKED.finditer(reply):
        text = next(g for g in m.groups() if g)
        key = norm(text)
        if key:
            out.add(key)
    return out


def _capitalized(reply: str) -> list[tuple[str, bool]]:
    """(normalised sub-phrase, is the whole run) of capitalised word runs; a single word at
    the start of a sentence is left out (it is capitalised anyway)."""
    out: list[tuple[str, bool]] = []
    for m in _CAPS.finditer(reply):
        words = m.group(0).split()
        at_start = bool(_SENTENCE_START.search(reply[: m.start()]))
        for n in range(1, min(len(words), MAX_TITLE_WORDS) + 1):
            for i in range(len(words) - n + 1):
                if n == 1 and (i == 0 and at_start or len(words[i]) < 3):
                    continue
                key = norm(" ".join(words[i:i + n]))
                if key:
                    out.append((key, n == len(words) and not (at_start and n == 1)))
    return out


def check_reply(
    reply: str,
    recs: Sequence[Recommendation],
    *,
    vocabulary: Vocabulary | None = None,
    suspects: Iterable[str] = (),
    allowed: Iterable[str] = (),
) -> list[str]:
    """The catalog titles ``reply`` names that it may not: not a recommendation, not in
    ``allowed`` (titles the user named this turn), and named *as a title* (see the module).
    Titles to look for: every catalog title (``vocabulary``) plus ``suspects`` (titles the
    writer saw). A title inside an allowed title ("Heat" in "Heat 2") is not counted."""
    ok = {norm(r.title) for r in recs} | {norm(t) for t in allowed}
    ok.discard("")
    ok_text = " | ".join(sorted(ok))
    language = vocabulary.language if vocabulary is not None else "en"
    extra = {k for k in (norm(t) for t in suspects) if len(k) >= 3}

    def is_title(key: str) -> bool:
        return key in extra or (vocabulary is not None and key in vocabulary.titles)

    def outside(key: str) -> bool:
        return key not in ok and key not in ok_text

    def specific(key: str) -> bool:
        return rarity(key.split(), language) >= SPECIFIC_RARITY

    found: set[str] = set()
    for key in _marked(reply):
        if is_title(key) and outside(key):
            found.add(key)
    for key, whole in _capitalized(reply):
        if is_title(key) and outside(key) and (specific(key) or whole and " " in key):
            found.add(key)
    for key in _phrases(reply):
        if " " in key and is_title(key) and outside(key) and specific(key):
            found.add(key)
    return sorted(found)
