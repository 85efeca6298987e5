"""Grounding a message against the catalog: which spans are titles, categories, tags,
years, references to the last list, and which free words carry content.

Spans are matched against the catalog's own vocabulary (:class:`agent.vocabulary.Vocabulary`)
with a *specificity test* for titles: a span that equals a title is read as one only when the
evidence is strong enough for how ordinary its words are (word frequencies from general text):

- a year right after it ("Heat (1995)", "Heat 1995") or quotes around it: always;
- written with capitals, not just the first word of a sentence: when its words are not the
  most everyday ones ("Toy Story", "Heat"; not "Her", "Up");
- written in lower case: only when its words are rare enough together ("the matrix",
  "hot fuzz"; not "better", "date night").

A ``Title (Year)`` the catalog does not hold is still a title (lookup_items reports it). A
run of unknown words close to a title is a typo of it. Function words, numbers and pronouns
are never titles. Grammar, not phrasing, is all the code knows: numerals, the prepositions
of time, and ordinal references to the last list (see :mod:`agent.understanding.grammar`),
and what a question about an item asks (:mod:`agent.understanding.questions`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from rapidfuzz import fuzz, process

from agent.understanding import grammar, questions
from agent.understanding.sentiment import valence
from agent.understanding.tokenizer import Token, tokenize
from agent.vocabulary import MAX_TITLE_WORDS, Vocabulary, norm, stem, stop_words

MentionKind = Literal["title", "category", "tag", "word"]
Stance = Literal["neutral", "liked", "disliked", "seen", "wanted", "avoided", "soft_avoid"]

FUZZY_TITLE_SCORE = 80.0
TYPO_ZIPF = 3.0  # rarer than this in general text: maybe a misspelling ("horor", "somthing")
EVERYDAY_TYPO_SCORE = 85.0  # this close to a common word: a misspelling of it
COMMON_WORDS = 4000  # the most frequent words of the language, ...
COMMON_ZIPF = 4.0  # ... as common as this
MIN_TAG_RARITY = 2.0  # a tag of everyday words ("good day") needs this much specificity
TAG_EVERYDAY_ZIPF = 5.5  # a one-word tag more common than this is not a keyword ("good")
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")


@dataclass
class Mention:
    kind: MentionKind
    value: str  # title as typed (with its year when given), category, tag or word
    start: int  # token span
    end: int
    strength: str = ""  # for titles: year / quotes / caps / rare / typo / format
    item_id: str | None = None  # for catalog titles
    stance: Stance = "neutral"
    alternative: bool = False  # joined to the mention before it by "or"


@dataclass
class Grounding:
    text: str
    tokens: list[Token]
    mentions: list[Mention] = field(default_factory=list)
    years: grammar.YearRange = field(default_factory=grammar.YearRange)
    refs: list[int] = field(default_factory=list)  # positions in the last list (1-based, -1 last)
    quantities: list[grammar.Quantity] = field(default_factory=list)  # "at least 4", "3.5+"
    count: int | None = None  # how many items are asked for ("two comedies")
    why: bool = False  # asks for a reason ("why", "how come")
    about: bool = False  # an item mention is what it is about ("tell me about the first one")
    sentiment: float = 0.0  # of the whole message, mentions neutralised (see stance)

    def of(self, kind: MentionKind) -> list[Mention]:
        return [m for m in self.mentions if m.kind == kind]

    @property
    def has_content(self) -> bool:
        return bool(self.mentions or self.years.given or self.refs or self.quantities)

    def char_spans(self, kinds: tuple[MentionKind, ...] = ("title",)) -> list[tuple[int, int]]:
        return [(self.tokens[m.start].start, self.tokens[m.end - 1].end)
                for m in self.mentions if m.kind in kinds]


class Grounder:
    """Finds the catalog's vocabulary in messages (one per vocabulary; stateless)."""

    def __init__(self, vocab: Vocabulary, nouns: tuple[str, ...] = ()) -> None:
        self.vocab = vocab
        self.nouns = frozenset(n.casefold() for n in nouns)
        self._sorted_titles = sorted(vocab.titles)

    # ---- entry point -------------------------------------------------------------------
    def ground(self, text: str) -> Grounding:
        toks = tokenize(text)
        g = Grounding(text, toks)
        used = [False] * len(toks)
        self._explicit_titles(g, used)
        self._quoted_titles(g, used)
        self._catalog_titles(g, used)
        g.years = grammar.read_years(toks, used, self.vocab.year_max)
        g.quantities = grammar.read_quantities(toks, used)
        before_refs = list(used)
        g.refs = grammar.read_refs(toks, used)
        ref_at = [i for i, (a, b) in enumerate(zip(before_refs, used, strict=True)) if a != b]
        g.why = questions.asks_reason(toks)
        self._categories_and_tags(g, used)
        self._typo_categories(g, used)
        heads = {m.start for m in g.mentions if m.kind in ("category", "tag")}
        g.count = grammar.read_count(toks, used, heads | {
            i for i, t in enumerate(toks) if t.low in self.nouns})
        self._typo_titles(g, used)
        self._free_words(g, used)
        g.mentions.sort(key=lambda m: m.start)
        item_words = {i for m in g.mentions if m.kind in ("category", "tag")
                      for i in range(m.start, m.end)}
        item_words |= {i for i, t in enumerate(toks) if t.low in self.nouns}
        g.about = questions.about(toks, ref_at, [m.start for m in g.of("title")], item_words)
        return g

    # ---- titles --------------------------------------------------------------------------
    def _add_title(self, g: Grounding, used: list[bool], start: int, end: int, strength: str,
                   year: int | None = None, year_end: int | None = None,
                   key: str | None = None) -> None:
        typed = g.text[g.tokens[start].start:g.tokens[end - 1].end]
        key = key or norm(typed)
        item = self.vocab.titles.get(key)
        value = f"{typed} ({year})" if year else typed
        g.mentions.append(Mention("title", value, start, end, strength, item))
        for i in range(start, year_end or end):
            used[i] = True

    def _title_key_at(self, toks: list[Token], start: int, end: int) -> str | None:
        if not toks[start].is_word or not toks[end - 1].is_word:
            return None
        key = norm(" ".join(t.text for t in toks[start:end]))
        return key if key in self.vocab.titles else None

    def _explicit_titles(self, g: Grounding, used: list[bool]) -> None:
        """``Title (1995)`` / ``Title 1995``: the longest span before the year that is a
        catalog title of about that year, else the capitalised run before it."""
        toks = g.tokens
        for i, t in enumerate(toks):
            if not _YEAR.fullmatch(t.low) or used[i]:
                continue
            in_brackets = i > 0 and toks[i - 1].low == "(" and i + 1 < len(toks) \
                and toks[i + 1].low == ")"
            end = i - 1 if in_brackets else i
            year_end = i + 2 if in_brackets else i + 1
            year = int(t.low)
            best = None
            for start in range(max(0, end - MAX_TITLE_WORDS), end):
                if any(used[start:end]):
                    continue
                key = self._title_key_at(toks, start, end)
                if key and any(abs(y - year) <= 1 for y in self.vocab.title_years.get(key, [])):
                    best = start
                    break
            if best is not None:
                self._add_title(g, used, best, end, "year", year, year_end)
                continue
            if not in_brackets:
                continue  # a bare year after unknown words is a period, not a title
            start = end
            while start > 0 and not used[start - 1] and end - start < MAX_TITLE_WORDS:
                prev = toks[start - 1]
                before_capital = start - 1 > 0 and toks[start - 2].capital
                glue = prev.low in stop_words() or prev.low in (":", ",", "&", "-", "'")
                if prev.is_word and prev.capital or glue and before_capital:
                    start -= 1
                else:
                    break
            while start < end and (not toks[start].is_word or
                                   (toks[start].low in stop_words() and not toks[start].capital)):
                start += 1
            if start < end:
                self._add_title(g, used, start, end, "format", year, year_end)

    def _quoted_titles(self, g: Grounding, used: list[bool]) -> None:
        toks = g.tokens
        quotes = [i for i, t in enumerate(toks) if t.text in ('"', "\u201c", "\u201d")]
        for a, b in zip(quotes[::2], quotes[1::2], strict=False):
            if b - a < 2 or any(used[a + 1:b]):
                continue
            key = self._title_key_at(toks, a + 1, b)
            if key is None:
                typed = norm(" ".join(t.text for t in toks[a + 1:b]))
                key = self._fuzzy(typed)
            if key is not None:
                self._add_title(g, used, a + 1, b, "quotes", key=key)

    def _phrases(self, toks: list[Token]) -> list[tuple[int, int]]:
        """Spans of two or more words that are a catalog category or tag."""
        out = []
        vocab = self.vocab
        for i in range(len(toks)):
            for n in range(min(2 * vocab.max_phrase_words + 1, len(toks) - i), 1, -1):
                span = toks[i:i + n]
                if not (span[0].is_word and span[-1].is_word):
                    continue
                key = norm(" ".join(t.text for t in span))
                if key in vocab.category_phrases or key in vocab.tag_phrases:
                    out.append((i, i + n))
                    break
        return out

    def _catalog_titles(self, g: Grounding, used: list[bool]) -> None:
        toks = g.tokens
        phrases = self._phrases(toks)
        i = 0
        while i < len(toks):
            if used[i] or not toks[i].is_word:
                i += 1
                continue
            hit = None
            for end in range(min(len(toks), i + MAX_TITLE_WORDS), i, -1):
                if any(used[i:end]):
                    continue
                key = self._title_key_at(toks, i, end)
                if key is None or not self._specific(toks, i, end, key):
                    continue
                if self._evidence(toks, i, end) != "caps" and any(
                        a < end and i < b and b - a > end - i for a, b in phrases):
                    continue  # in lower case, part of a longer category or tag phrase
                hit = end
                break
            if hit is None:
                i += 1
                continue
            sequel = self._sequel(toks, i, hit, used)
            if sequel is not None:  # "Terminator 2": the title that goes on with the number
                hit, key = sequel
                self._add_title(g, used, i, hit, "sequel", key=key)
            else:
                self._add_title(g, used, i, hit, self._evidence(toks, i, hit))
            i = hit

    def _sequel(self, toks: list[Token], start: int, end: int, used: list[bool]
                ) -> tuple[int, str] | None:
        """A title followed by a number ("Terminator 2", "Toy Story 3") that starts a longer
        catalog title ("terminator 2 judgment day"): (end of the number, that title)."""
        if end >= len(toks) or used[end] or not toks[end].low.isdigit() or len(toks[end].low) > 2:
            return None
        prefix = norm(" ".join(t.text for t in toks[start:end + 1]))
        k = bisect.bisect_left(self._sorted_titles, prefix)
        found = []
        while k < len(self._sorted_titles) and self._sorted_titles[k].startswith(prefix):
            key = self._sorted_titles[k]
            if key == prefix or key[len(prefix)] == " ":
                found.append(key)
            k += 1
        return (end + 1, min(found, key=len)) if found else None

    def _evidence(self, toks: list[Token], start: int, end: int) -> str:
        content = [t for t in toks[start:end] if t.is_word and t.low not in stop_words()] or [
            t for t in toks[start:end] if t.is_word]
        capital = bool(content) and all(t.capital for t in content)
        mid_sentence = not toks[start].sentence_start or sum(t.is_word for t in
                                                             toks[start:end]) >= 2
        return "caps" if capital and mid_sentence else "rare"

    def _specific(self, toks: list[Token], start: int, end: int, key: str) -> bool:
        words = [t.low for t in toks[start:end] if t.is_word]
        framed = start > 0 and valence(toks[start - 1].low) >= 1.0
        caps = self._evidence(toks, start, end) == "caps"
        if all(w in stop_words() or w.isdigit() for w in words):
            # "Up", "It", "Her": only written as a name right after a word of liking
            return caps and framed and not any(w.isdigit() for w in words)
        spec = self.vocab.specificity(words)
        if caps:
            return spec >= 1.0 or len(words) >= 3 or framed
        if key in self.vocab.category_phrases or key in self.vocab.tag_phrases:
            return False  # in lower case a category or tag is read as one, not as a title
        if framed:
            return spec >= 1.5  # framed by a word of liking: "loved heat", "like heat"
        return spec >= 3.5 or (len(words) == 1 and spec >= 2.5)

    def _typo_titles(self, g: Grounding, used: list[bool]) -> None:
        """Runs of words with an unknown word in them that are close to a catalog title."""
        toks = g.tokens
        for i, t in enumerate(toks):
            if used[i] or not t.is_word or not t.low.isalpha() or len(t.low) < 4:
                continue
            if self.vocab.zipf(t.low) > 0 or t.low in self.vocab.tag_words or t.contraction:
                continue
            best: tuple[float, int, int, str] | None = None
            for start in range(max(0, i - 3), i + 1):
                for end in range(i + 1, min(len(toks), i + 4) + 1):
                    if any(used[start:end]) or not all(x.is_word for x in toks[start:end]):
                        continue
                    typed = norm(" ".join(x.text for x in toks[start:end]))
                    key = self._fuzzy(typed)
                    if key is not None:
                        score = _ratio(typed, key)
                        if best is None or score > best[0]:
                            best = (score, start, end, key)
            if best is not None:
                self._add_title(g, used, best[1], best[2], "typo", key=best[3])

    def _fuzzy(self, typed: str) -> str | None:
        if len(typed) < 4 or not self.vocab.titles:
            return None
        hit = process.extractOne(typed, self.vocab.titles.keys(), scorer=fuzz.ratio,
                                 score_cutoff=FUZZY_TITLE_SCORE)
        return str(hit[0]) if hit else None

    # ---- categories, tags, free words ----------------------------------------------------
    def _categories_and_tags(self, g: Grounding, used: list[bool]) -> None:
        toks = g.tokens
        i = 0
        while i < len(toks):
            if used[i] or not toks[i].is_word:
                i += 1
                continue
            hit = self._category_or_tag_at(toks, i, used)
            if hit is None:
                i += 1
                continue
            kind, key, n = hit
            if all(t.low in self.nouns for t in toks[i:i + n] if t.is_word):
                i += n  # the catalog's own noun ("books") says nothing about the items
                continue
            self._add_category_or_tag(g, used, kind, key, i, n)
            i += n

    def _category_or_tag_at(self, toks: list[Token], i: int, used: list[bool]
                            ) -> tuple[MentionKind, str, int] | None:
        """The longest span starting at ``i`` that is a catalog category (or the stem of one)
        or a specific enough tag: (kind, key, length in tokens)."""
        vocab = self.vocab
        for n in range(min(2 * vocab.max_phrase_words + 1, len(toks) - i), 0, -1):
            span = toks[i:i + n]
            if any(used[i:i + n]) or not span[-1].is_word:
                continue
            key = norm(" ".join(t.text for t in span))
            if key in vocab.category_phrases:
                return "category", key, n
            if n == 1 and len(key) >= 4 and stem(key, vocab.language) in vocab.category_stems:
                return "category", stem(key, vocab.language), n
            joined = key.replace(" ", "")
            if n > 1 and joined in vocab.tag_phrases and joined not in stop_words():
                key = joined  # "super hero" is the catalog's "superhero"
            if key in vocab.tag_phrases and (
                    vocab.zipf(key) < TAG_EVERYDAY_ZIPF if n == 1 else vocab.specificity(
                        key.split()) >= MIN_TAG_RARITY):
                return "tag", key, n
        return None

    def _add_category_or_tag(self, g: Grounding, used: list[bool], kind: MentionKind,
                             key: str, i: int, n: int) -> None:
        vocab = self.vocab
        if kind == "category":
            alternative = grammar.joined_by_or(g.tokens, i, [m.end for m in g.of("category")])
            for name in vocab.category_phrases.get(key) or vocab.category_stems[key]:
                g.mentions.append(Mention("category", name, i, i + n, alternative=alternative))
        else:
            g.mentions.append(Mention("tag", vocab.tag_phrases[key], i, i + n))
        for k in range(i, i + n):
            used[k] = True

    def _misspelt(self, t: Token) -> bool:
        """An unknown or rare word (a misspelling, by its frequency in general text), not a
        word of the catalog's tags, not a contraction or a name's capital."""
        w = t.low
        return (w.isalpha() and len(w) >= 4 and not t.contraction and w not in self.nouns
                and w not in self.vocab.tag_words and self.vocab.zipf(w) < TYPO_ZIPF)

    def _typo_categories(self, g: Grounding, used: list[bool]) -> None:
        """A misspelt word close to one of the catalog's category words ("horor") is that
        category, as a run of unknown words close to a title is that title."""
        keys = [k for k in self.vocab.category_phrases if " " not in k]
        for i, t in enumerate(g.tokens):
            if used[i] or not self._misspelt(t):
                continue
            hit = process.extractOne(t.low, keys, scorer=fuzz.ratio,
                                     score_cutoff=FUZZY_TITLE_SCORE)
            if hit is not None:
                self._add_category_or_tag(g, used, "category", str(hit[0]), i, 1)

    def _everyday_typo(self, t: Token) -> bool:
        """A rare lower-case word that is a misspelling of an everyday one ("somthing"):
        filler, not content."""
        if t.capital or not self._misspelt(t):
            return False
        common = _common_words(self.vocab.language)
        return process.extractOne(t.low, common, scorer=fuzz.ratio,
                                  score_cutoff=EVERYDAY_TYPO_SCORE) is not None

    def _free_words(self, g: Grounding, used: list[bool]) -> None:
        """Words no reading took that still say something about the items: a word of the
        catalog's tags that is not everyday language, or a rare word (a name, a keyword)."""
        for i, t in enumerate(g.tokens):
            w = t.low
            if used[i] or not w.isalpha() or len(w) < 3 or w in stop_words() or t.contraction:
                continue
            if self.vocab.everyday(w) or grammar.is_grammar(w) or w in self.nouns:
                continue
            if self._everyday_typo(t):
                continue
            name = g.tokens[i].capital and not g.tokens[i].sentence_start
            if w in self.vocab.tag_words or self.vocab.zipf(w) < 3.0 or name:
                g.mentions.append(Mention("word", w, i, i + 1))
                used[i] = True


@lru_cache(maxsize=4)
def _common_words(language: str) -> tuple[str, ...]:
    """The language's common words (general word frequencies: ``wordfreq``), for telling a
    misspelt everyday word from a rare one that carries content."""
    from wordfreq import top_n_list, zipf_frequency  # deferred: start-up time (wordfreq)

    return tuple(w for w in top_n_list(language, COMMON_WORDS)
                 if w.isalpha() and zipf_frequency(w, language) >= COMMON_ZIPF)


def _ratio(a: str, b: str) -> float:
    return float(fuzz.ratio(a, b))
