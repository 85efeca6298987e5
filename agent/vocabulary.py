"""What the offline planner knows about the catalog and the language: the catalog's own
category names, tags, titles (with years) and year range, plus how ordinary a word is in
everyday language.

Everything here comes from data: the catalog (:meth:`Vocabulary.from_catalog`, or lists for
tests and plug-ins) and the word-frequency tables of the ``wordfreq`` package (how often a
word appears in general text, on the Zipf scale: 7 = "the", 3 = rare). Nothing here lists
phrasings. Titles are capped at :data:`MAX_TITLES` (most popular first) so a million-item
catalog stays small in memory; a title outside the index still resolves through
``lookup_items``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer
from langcodes import Language
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from tools.catalog.protocol import Catalog
from tools.catalog.text import normalize_title

MAX_TITLES = 200_000
MAX_TITLE_WORDS = 16
MAX_TAGS = 20_000  # every tag of a catalog with ~10k items (most used first)
MAX_TAG_WORDS = 6
# Zipf frequency at and above which a word is everyday language, not a name or a keyword
EVERYDAY_ZIPF = 5.0
# a phrase is specific when its words' rarity (7 - zipf, summed) reaches this
SPECIFIC_RARITY = 3.0


@lru_cache(maxsize=8192)
def norm(text: str) -> str:
    """Lower case, accents folded, punctuation -> spaces (the form phrases are compared in).
    Cached: the same category names, tags and titles are normalized on every turn."""
    return normalize_title(text) if text.strip() else ""


@lru_cache(maxsize=65536)
def zipf(word: str, language: str = "en") -> float:
    """How common ``word`` is in general text (Zipf scale; 0 for unknown words)."""
    from wordfreq import zipf_frequency  # deferred: start-up time (wordfreq)

    return float(zipf_frequency(word, language))


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Function words (scikit-learn's English stop-word list)."""
    return frozenset(ENGLISH_STOP_WORDS)


def rarity(words: Iterable[str], language: str = "en") -> float:
    """How specific a phrase is: the summed rarity (7 - Zipf) of its non-function words."""
    return sum(max(0.0, 7.0 - zipf(w, language)) for w in words
               if w not in stop_words() and not w.isdigit())


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Any:
    """A Snowball stemmer for the language (``None`` where Snowball has none)."""
    name = Language.get(language).display_name().casefold()
    return snowballstemmer.stemmer(name) if name in snowballstemmer.algorithms() else None


def stem(word: str, language: str = "en") -> str:
    """The word's stem ("animated", "animation" -> "anim"); the word itself without a
    stemmer for the language."""
    stemmer = _stemmer(language)
    return str(stemmer.stemWord(word)) if stemmer is not None else word


def category_forms(name: str) -> set[str]:
    """The normalised forms a category name is written in: as is, and its plural."""
    key = norm(name)
    if not key:
        return set()
    forms = {key, key.replace(" ", "")}
    last = key.split()[-1]
    head = key[: len(key) - len(last)]
    if last.endswith("y") and len(last) > 2:
        forms.add(head + last[:-1] + "ies")
    elif last.endswith(("s", "x", "ch", "sh")):
        forms.add(head + last + "es")
    else:
        forms.add(head + last + "s")
    return forms


@dataclass
class Vocabulary:
    categories: list[str]
    tags: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # normalised title -> item id
    year_min: int | None = None
    year_max: int | None = None
    # normalised title -> the years of the items with that title
    title_years: dict[str, list[int]] = field(default_factory=dict)
    # tag -> (items tagged, {category: of those}) for learned tag -> category associations
    tag_categories: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)
    language: str = "en"
    # each distinct category set of the items -> (items, their known years sorted)
    category_sets: Mapping[frozenset[str], tuple[int, tuple[int, ...]]] = field(
        default_factory=dict)
    category_phrases: dict[str, tuple[str, ...]] = field(init=False)
    category_stems: dict[str, tuple[str, ...]] = field(init=False)
    tag_phrases: dict[str, str] = field(init=False)
    tag_words: dict[str, list[str]] = field(init=False)  # word -> tags containing it
    max_phrase_words: int = field(init=False)

    def __post_init__(self) -> None:
        phrases: dict[str, tuple[str, ...]] = {}
        for name in self.categories:
            for form in category_forms(name):
                phrases.setdefault(form, (name,))
        self.category_phrases = phrases
        # one-word categories by stem, for other forms of the word ("animated" -> Animation)
        stems: dict[str, tuple[str, ...]] = {}
        for key, names in phrases.items():
            if " " not in key and len(key) >= 4:
                stems.setdefault(stem(key, self.language), names)
        self.category_stems = stems
        tags: dict[str, str] = {}
        words: dict[str, list[str]] = {}
        for tag in self.tags:
            key = norm(tag)
            if not key or key in phrases or len(key.split()) > MAX_TAG_WORDS:
                continue
            if not re.search(r"[a-z]", key) or all(w in stop_words() for w in key.split()):
                continue
            if tags.setdefault(key, tag) == tag:
                for w in set(key.split()):
                    if w not in stop_words() and len(w) >= 3:
                        words.setdefault(w, []).append(tag)
        self.tag_phrases = tags
        self.tag_words = words
        lengths = [len(p.split()) for p in list(phrases) + list(tags)] or [1]
        self.max_phrase_words = max(lengths)

    # ---- what a word is --------------------------------------------------------------
    def zipf(self, word: str) -> float:
        return zipf(word, self.language)

    def everyday(self, word: str) -> bool:
        """A word of everyday language (or a function word), not a name or a keyword."""
        return word in stop_words() or self.zipf(word) >= EVERYDAY_ZIPF

    def specificity(self, words: Iterable[str]) -> float:
        return rarity(words, self.language)

    def categories_of_tag(self, tag: str, min_share: float = 0.8, min_items: int = 5
                          ) -> list[str]:
        """Categories nearly every item with ``tag`` is in (learned from the catalog)."""
        n, counts = self.tag_categories.get(tag, (0, {}))
        if n < min_items:
            return []
        return [c for c, k in sorted(counts.items(), key=lambda kv: -kv[1]) if k / n >= min_share]

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def from_lists(
        cls,
        *,
        categories: Iterable[str],
        tags: Iterable[str] = (),
        titles: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        year_min: int | None = None,
        year_max: int | None = None,
        language: str = "en",
    ) -> Vocabulary:
        """``titles`` as (item_id, title) pairs or a {item_id: title} mapping, most popular
        first (the first item wins a shared normalised title); a "(1995)" suffix is read as
        the title's year."""
        pairs = titles.items() if isinstance(titles, Mapping) else titles
        index: dict[str, str] = {}
        years: dict[str, list[int]] = {}
        for item_id, title in pairs:
            key = norm(title)
            m = re.search(r"\((\d{4})\)\s*$", title)
            if key and m:
                years.setdefault(key, []).append(int(m.group(1)))
            if key and len(key.split()) <= MAX_TITLE_WORDS and key not in index:
                index[key] = str(item_id)
            if len(index) >= MAX_TITLES:
                break
        return cls(categories=list(categories), tags=list(tags), titles=index,
                   year_min=year_min, year_max=year_max, title_years=years, language=language)

    @classmethod
    def from_catalog(cls, catalog: Catalog, language: str = "en") -> Vocabulary:
        """From ``Catalog.vocabulary()``. Blocking: call it in a thread."""
        vocab = catalog.vocabulary(n_tags=MAX_TAGS)
        titles: dict[str, str] = {}
        for key, item_id in vocab.titles.items():
            if key and len(key.split()) <= MAX_TITLE_WORDS:
                titles[key] = str(item_id)
                if len(titles) >= MAX_TITLES:
                    break
        return cls(
            categories=list(vocab.categories),
            tags=list(vocab.tags),
            titles=titles,
            year_min=vocab.year_min,
            year_max=vocab.year_max,
            title_years={k: v for k, v in vocab.title_years.items() if k in titles},
            tag_categories=dict(vocab.tag_categories),
            language=language,
            category_sets=dict(getattr(vocab, "category_sets", {}) or {}),
        )

    def can_match(self, *, categories_all: Iterable[str] = (),
                  categories_any: Iterable[str] = (), categories_none: Iterable[str] = (),
                  year_min: int | None = None, year_max: int | None = None) -> bool | None:
        """Whether some item has all of ``categories_all``, one of ``categories_any`` (when
        given), none of ``categories_none`` and a year in range; None when the catalog's
        category sets are not known (too many categories, or not a catalog vocabulary)."""
        if not self.category_sets:
            return None
        all_ = {c.casefold() for c in categories_all}
        any_ = {c.casefold() for c in categories_any}
        none = {c.casefold() for c in categories_none}
        dated = year_min is not None or year_max is not None
        lo = year_min if year_min is not None else -(10**9)
        hi = year_max if year_max is not None else 10**9
        for names, (count, years) in self.category_sets.items():
            folded = {n.casefold() for n in names}
            if not all_ <= folded or (any_ and not any_ & folded) or none & folded:
                continue
            if not dated and count:
                return True
            if dated and bisect_right(years, hi) > bisect_left(years, lo):
                return True
        return False
