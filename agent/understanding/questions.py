"""The little grammar of questions about an item rather than requests for items: asking
for a reason ("why", "how come", a causative "what makes ...": answered by ``explain``) and
asking about an item mentioned ("tell me about the second one": ``item_info``). Closed word
classes of the language (interrogatives, indefinite pronouns), not phrasings; whether a
message is a question at all is the act model's reading (INQ), these only say what kind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.understanding.grammar import DETERMINERS, REF_MARKERS
from agent.understanding.tokenizer import Token

# interrogatives of reason: "why", "how come", and a causative "what makes / made ..."
REASON = frozenset({"why"})
REASON_AFTER = {"how": frozenset({"come"}), "what": frozenset({"make", "makes", "made"})}
WH_WORDS = frozenset({"what", "how", "which", "who", "where", "when"})
# indefinite pronouns: "something about X" asks for items about X, not about the item X
INDEFINITE = frozenset({"something", "anything", "nothing", "everything", "one", "ones",
                        "some", "any"})
_APOSTROPHE = re.compile("['\u2019]")


def asks_reason(toks: Sequence[Token]) -> bool:
    """Whether the message asks for a reason: "why" (also contracted: "why'd"), "how come",
    "what makes ..."."""
    words = [_APOSTROPHE.split(t.text)[0].casefold() if t.contraction else t.low
             for t in toks if t.is_word]
    following = [*words[1:], ""] if words else []  # each word's next one ("" at the end)
    return any(w in REASON or nxt in REASON_AFTER.get(w, ())
               for w, nxt in zip(words, following, strict=True))


def about(toks: Sequence[Token], refs: Sequence[int], titles: Sequence[int],
          item_words: set[int]) -> bool:
    """Whether an item mention is the object of "about": the message asks about that item
    ("tell me about the first one", "... about number 3", "tell me about <title>"). For a
    title (starting at one of ``titles``) not after words for items (``item_words``) or an
    indefinite pronoun, which ask for items about it ("a comedy about X", "something about
    X"); a reference to the list (at one of ``refs``) is the item itself. "what about ..."
    and "how about ..." are left to the act model."""
    for s in [*refs, *titles]:
        j = s - 1
        while j >= 0 and (toks[j].low in DETERMINERS or toks[j].low in REF_MARKERS):
            j -= 1
        if j < 0 or toks[j].low != "about":
            continue
        head = toks[j - 1].low if j > 0 else ""
        if head in WH_WORDS:
            continue
        if s in refs or head not in INDEFINITE and j - 1 not in item_words:
            return True
    return False
