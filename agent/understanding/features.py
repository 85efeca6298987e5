"""The text features the dialogue-act model reads, shared by training and inference.

A message is folded (accents, case, apostrophes), its item mentions replaced by the
placeholder :data:`ITEM` and the catalog's item nouns by :data:`NOUN`, so a model trained on
one domain's dialogues reads the *frame* of a message ("I loved ITEM, anything like it?"),
not the titles or the kind of item in it. Features are word uni/bigrams (with a start
marker) and character 2-5-grams of every word, plus punctuation marks: strings, mapped to
columns by the trained vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tools.catalog.text import fold_accents

ITEM = "xitemx"
NOUN = "xnounx"
_APOSTROPHE = re.compile(r"['\u2019\u2018`\u00b4](?=\w)")
_TOKEN = re.compile(r"[a-z0-9]+|[?!]")


def tokens(text: str) -> list[str]:
    """Folded word tokens (apostrophes dropped: "don't" -> "dont"), "?" and "!" kept."""
    folded = _APOSTROPHE.sub("", fold_accents(text).casefold())
    return _TOKEN.findall(folded)


def mask(text: str, spans: Sequence[tuple[int, int]], nouns: Iterable[str] = ()) -> str:
    """``text`` with each (start, end) character span replaced by :data:`ITEM` and each
    whole-word occurrence of an item noun by :data:`NOUN`."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(f" {ITEM} ")
        pos = end
    out.append(text[pos:])
    masked = "".join(out)
    words = sorted({n.casefold() for n in nouns if n.strip()}, key=len, reverse=True)
    if words:
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"
        masked = re.sub(pattern, f" {NOUN} ", masked, flags=re.IGNORECASE)
    return masked


def features(text: str) -> list[str]:
    """The feature strings of one (masked) message."""
    toks = tokens(text)
    words = [t for t in toks if t not in ("?", "!")]
    feats: list[str] = []
    prev = "^"
    for w in words:
        feats.append("w:" + w)
        feats.append(f"b:{prev} {w}")
        prev = w
        if w in (ITEM, NOUN):
            continue
        padded = f" {w} "
        for n in (2, 3, 4, 5):
            feats.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    if words:
        feats.append(f"b:{prev} $")
    feats.extend("p:" + t for t in toks if t in ("?", "!"))
    feats.append("n:" + ("1" if len(words) <= 1 else "2-3" if len(words) <= 3 else
                         "4-8" if len(words) <= 8 else "9-20" if len(words) <= 20 else "21+"))
    return feats
