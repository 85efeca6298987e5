"""VADER (Hutto and Gilbert, ICWSM 2014; the ``vaderSentiment`` package and its valence
lexicon, MIT): the analyser, its negation and degree-word tables, and the valence of one word.
The grounding (a word of liking before a title) and the stance of mentions both read it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import vaderSentiment.vaderSentiment as v

from agent.vocabulary import stop_words


@lru_cache(maxsize=1)
def vader() -> Any:
    """The sentiment analyser (its lexicon is read once, on first use)."""
    return v.SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def tables() -> tuple[frozenset[str], frozenset[str], dict[str, float]]:
    """(negation words, decreasing degree words, the valence lexicon)."""
    negate = frozenset(w.replace("'", "") for w in v.NEGATE)
    decrease = frozenset(w for w, s in v.BOOSTER_DICT.items() if s < 0 and " " not in w)
    return negate, decrease, dict(vader().lexicon)


def valence(word: str) -> float:
    """How much a word expresses liking or disliking (0.0 for a word not in the lexicon)."""
    return float(tables()[2].get(word, 0.0))


def negates(word: str) -> bool:
    """A word that negates what follows: in VADER's negation table ("not", "nothing",
    "without"), or a function word of strongly negative valence ("no")."""
    negate, _decrease, lexicon = tables()
    return word in negate or (word in stop_words() and lexicon.get(word, 0.0) <= -1.0)
