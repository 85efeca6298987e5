"""The stance of each grounded mention: liked, disliked, seen, wanted, avoided.

Two data-driven signals decide it, per clause (a stretch of the message between sentence
marks and contrasting "but"):

- sentiment from VADER (:mod:`agent.understanding.sentiment`), computed with the mentions
  themselves neutralised so a title's own words ("Happy Feet", "Dead Man") do not count; its
  negation and degree-word tables scope a negation or a "less/slightly" to the mention right
  after it;
- the dialogue-act model on the clause: a clause that rejects (REJ) makes a neutral title
  disliked ("I'll pass on X"), one that reports having seen it (SEE) makes it seen.

Titles: liked / disliked / seen / neutral. Categories: wanted / avoided (a hard condition).
Tags and free words: wanted / soft_avoid ("not too gory", "less violent": pushed down, not
excluded).
"""

from __future__ import annotations

from agent.understanding.acts import ActsModel
from agent.understanding.features import ITEM, mask
from agent.understanding.grounding import Grounding, Mention
from agent.understanding.sentiment import tables, vader

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
    ("no horror or comedy") shares its scope."""
    negate, decrease, lexicon = tables()
    negated = decreased = False
    ends = {x.end: x.start for x in g.mentions if x is not m}
    for j in range(m.start - 1, max(-1, m.start - SCOPE - 1), -1):
        w = g.tokens[j].low
        if j + 1 in ends and ends[j + 1] in done:
            return done[ends[j + 1]]
        if not w[:1].isalnum() or j + 1 in ends:
            break
        if w in negate or lexicon.get(w, 0.0) <= -1.0:
            negated = True
        if w in decrease:
            decreased = True
    return negated, decreased


def assign(g: Grounding, acts_model: ActsModel | None, nouns: tuple[str, ...] = ()) -> None:
    """Set ``stance`` on every mention of ``g`` (in place)."""
    analyser = vader()
    scopes: dict[int, tuple[bool, bool]] = {}
    if g.refs:
        whole = mask(g.text, g.char_spans()).replace(ITEM, "it")
        g.sentiment = float(analyser.polarity_scores(whole)["compound"])
    if not g.mentions:
        return
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
                rejects = acts is not None and acts.top == "REJ"
                if compound <= NEGATIVE or negated and rejects:
                    m.stance = "disliked"
                elif compound >= POSITIVE:
                    m.stance = "liked"
                elif acts is not None and acts.top == "REJ":
                    m.stance = "disliked"
                elif acts is not None and acts.top == "SEE":
                    m.stance = "seen"
            elif m.kind == "category":
                m.stance = "avoided" if negated or decreased else "wanted"
            else:
                m.stance = "soft_avoid" if negated or decreased else "wanted"

