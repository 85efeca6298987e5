"""Messages cut into tokens: words (apostrophes kept inside), numbers and single marks, with
their character offsets and whether a sentence starts there. The grammar and the grounding
both read these; neither owns them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.catalog.text import fold_accents

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[^\w\s]", re.UNICODE)


@dataclass
class Token:
    text: str  # as typed
    low: str  # folded, lower case, apostrophes dropped
    start: int  # character offsets
    end: int
    sentence_start: bool

    @property
    def is_word(self) -> bool:
        return self.low[:1].isalnum()

    @property
    def contraction(self) -> bool:
        """ "I'll", "don't": grammar, never content."""
        return "'" in self.text or "\u2019" in self.text

    @property
    def capital(self) -> bool:
        return self.text[:1].isupper() or self.text[:1].isdigit()


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    boundary = True
    for m in _TOKEN.finditer(text):
        raw = m.group(0)
        low = fold_accents(raw).casefold().replace("'", "").replace("\u2019", "")
        out.append(Token(raw, low, m.start(), m.end(), boundary and low[:1].isalnum()))
        if low in (".", "!", "?", ";", ":") or raw == "\n":
            boundary = True
        elif low[:1].isalnum():
            boundary = False
    return out
