"""The stance of each grounded mention: liked, disliked, seen, wanted, avoided.

Two data-driven signals decide it, per clause (a stretch of the message between sentence
marks and contrasting "but"):

- sentiment from VADER (:mod:`agent.understanding.sentiment`), computed with the mentions
  themselves neutralised so a title's own words ("Happy Feet", "Dead Man") do not count; its
  negation and degree-word tables scope a negation or a "less/slightly" to the mention right
  after it;
- the dialogue-act model on the clause: a clause that rejects (REJ) makes a neutral title
  disliked ("I'll pass on X"), one that reports having seen it (SEE) makes it seen.

A title the negation governs directly (only function words between: "but not X", "not a X
fan") takes the opposite of what the clause, or failing its own sentiment the clause before
it, says: "I liked A and B but not C" dislikes C; after a dislike it is left neutral.

Titles: liked / disliked / seen / neutral. Categories: wanted / avoided (a hard condition).
Tags and free words: wanted / soft_avoid ("not too gory", "less violent": pushed down, not
excluded).
"""

from __future__ import annotations

from agent.understanding.acts import Acts, ActsModel
from agent.understanding.features import ITEM, mask
from agent.understanding.grounding import Grounding, Mention, Stance
from agent.understanding.sentiment import tables, vader
from agent.vocabulary import stop_words

POSITIVE = 0.05
NEGATIVE = -0.05
SCOPE = 3  # words before a mention that a negation or degree word reaches


def _clauses(g: Grounding) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, t in enumerate(g.tokens):
        if t.low in (".", "!", "?", ";") or t.low == "but":
            if i > start:
                out.append((start, i))
            start = i + 1
    if start < len(g.tokens):
        out.append((start, len(g.tokens)))
    return out or [(0, len(g.tokens))]


def _scope(g: Grounding, m: Mention, done: dict[int, tuple[bool, bool]]
           ) -> tuple[bool, bool]:
    """(negated, decreased): a negation / negative word or a "less"-like word shortly before
    the mention, not across a comma; a mention joined to an earlier one by a function word
    ("no horror or comedy") shares its scope, unless a negation or degree word of its own
    stands between ("comedy but no thriller": the negation is the later one's)."""
    negate, decrease, lexicon = tables()
    negated = decreased = False
    ends = {x.end: x.start for x in g.mentions if x is not m}
    for j in range(m.start - 1, max(-1, m.start - SCOPE - 1), -1):
        w = g.tokens[j].low
        if j + 1 in ends and ends[j + 1] in done and not (negated or decreased):
            return done[ends[j + 1]]
        if not w[:1].isalnum() or j + 1 in ends or w == "but":  # "not X but Y": Y is wanted
            break
        if w in negate or lexicon.get(w, 0.0) <= -1.0:
            negated = True
        if w in decrease:
            decreased = True
    return negated, decreased


def _direct_negation(g: Grounding, m: Mention) -> int | None:
    """The position of a negation right before the mention with only function words between
    ("not X", "not a X fan", "no X"): it negates the mention itself rather than a verb of
    liking or seeing ("didn't like X", "haven't seen X": the sentiment and the acts read
    those)."""
    negate, _decrease, lexicon = tables()
    for j in range(m.start - 1, max(-1, m.start - SCOPE - 1), -1):
        w = g.tokens[j].low
        if w in negate or (w in stop_words() and lexicon.get(w, 0.0) <= -1.0):
            return j
        if w not in stop_words() or any(x.end == j + 1 for x in g.mentions):
            return None
    return None


def _without(g: Grounding, a: int, b: int, skip: int) -> float:
    """The sentiment of tokens ``a:b`` with the mentions neutralised and the token ``skip``
    (a negation) left out: what the clause says of the mention before it is negated."""
    words: list[str] = []
    for k in range(a, b):
        inside = next((x for x in g.mentions if x.start <= k < x.end), None)
        if k == skip or inside is not None and k > inside.start:
            continue
        words.append("it" if inside is not None else g.tokens[k].text)
    return float(vader().polarity_scores(" ".join(words))["compound"])


def assign(g: Grounding, acts_model: ActsModel | None, nouns: tuple[str, ...] = ()) -> None:
    """Set ``stance`` on every mention of ``g`` (in place)."""
    analyser = vader()
    scopes: dict[int, tuple[bool, bool]] = {}
    if g.refs:
        whole = mask(g.text, g.char_spans()).replace(ITEM, "it")
        g.sentiment = float(analyser.polarity_scores(whole)["compound"])
    if not g.mentions:
        return
    governing = 0.0  # the last clause's sentiment, for a clause without its own
    for a, b in _clauses(g):
        inside = [m for m in g.mentions if a <= m.start < b]
        if not inside:
            continue
        start_char, end_char = g.tokens[a].start, g.tokens[b - 1].end
        spans = [(g.tokens[m.start].start - start_char, g.tokens[m.end - 1].end - start_char)
                 for m in inside]
        clause = g.text[start_char:end_char]
        neutral = mask(clause, spans).replace(ITEM, "it")
        compound = float(analyser.polarity_scores(neutral)["compound"])
        acts = acts_model.predict(mask(clause, spans, nouns)) if acts_model else None
        for m in inside:
            negated, decreased = _scope(g, m, scopes)
            scopes[m.start] = (negated, decreased)
            if m.kind == "title":
                negation = _direct_negation(g, m)
                if negation is not None:
                    said = _without(g, a, b, negation)
                    said = said if abs(said) >= POSITIVE else governing
                    m.stance = "neutral" if said <= NEGATIVE else "disliked"
                else:
                    m.stance = _title_stance(compound, negated, acts)
            elif m.kind == "category":
                m.stance = "avoided" if negated or decreased else "wanted"
            else:
                m.stance = "soft_avoid" if negated or decreased else "wanted"
        if abs(compound) >= POSITIVE:
            governing = compound


def _title_stance(compound: float, negated: bool, acts: Acts | None) -> Stance:
    """A title's stance from its clause's sentiment and acts (and a negation before it)."""
    rejects = acts is not None and acts.top == "REJ"
    if compound <= NEGATIVE or negated and rejects:
        return "disliked"
    if compound >= POSITIVE:
        return "liked"
    if rejects:
        return "disliked"
    if acts is not None and acts.top == "SEE":
        return "seen"
    return "neutral"
