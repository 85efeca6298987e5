"""One message read: its dialogue acts, its grounded mentions and their stances."""

from __future__ import annotations

from dataclasses import dataclass

from agent.understanding.acts import Acts, ActsModel
from agent.understanding.features import mask
from agent.understanding.grounding import Grounder, Grounding, Mention
from agent.understanding.sentiment import valence
from agent.understanding.stance import assign
from agent.vocabulary import Vocabulary

# acts that ask for items outright (a reply about an item seen or a neutral remark does not)
ASKING = ("IQU", "ASK", "CRI-A", "CRI-C", "CRI-F", "REF", "PRO", "REJ")


@dataclass
class Reading:
    text: str
    acts: Acts
    grounding: Grounding

    def titles(self, *stances: str) -> list[Mention]:
        return [m for m in self.grounding.of("title") if not stances or m.stance in stances]

    @property
    def has_content(self) -> bool:
        return self.grounding.has_content

    @property
    def social(self) -> bool:
        """Greets, thanks, accepts or says goodbye, and asks for nothing: the act model
        says so, and nothing grounded in the message asks for items (a clearly social
        message may still name things in passing: "Thanks, I'll try Dune")."""
        acts = self.acts
        g = self.grounding
        if g.of("category") or g.years.given or g.refs or g.quantities or g.count:
            return False
        if acts.p("OTH", "STO", "END") < 0.5 and (
                acts.p("INQ") >= 0.5
                or any(m.stance in ("liked", "disliked") for m in g.of("title"))):
            # no thanks or goodbye in it: a question, or a taste stated in titles, is
            # something to go on
            return False
        asking = acts.p(*ASKING)
        closing = acts.p("ACC", "STO", "END")
        descriptive = [m for m in g.of("tag") if not _evaluative(m.value)]
        if closing >= 0.5 and closing > asking and not descriptive:
            return True  # above all an acceptance or goodbye ("sounds interesting!")
        if acts.social <= asking or asking >= 0.5:
            return False
        # a title or catalog tag weighs; a stray word or capitalised name in a goodbye does not
        named = g.of("title") or g.of("tag")
        return not named or acts.social - asking >= 0.3

    @property
    def inquiry(self) -> bool:
        """Asks about an item rather than for items."""
        acts = self.acts
        return acts.p("INQ") >= 0.5 and acts.p("INQ") >= acts.p("IQU", "CRI-A", "CRI-F", "CRI-C",
                                                               "REF", "PRO")


def _evaluative(tag: str) -> bool:
    """A tag that is only an opinion ("interesting", "great"): every word carries
    sentiment in VADER's lexicon."""
    words = tag.casefold().split()
    return bool(words) and all(valence(w) != 0.0 for w in words)


class Reader:
    """Reads messages against one catalog vocabulary with one dialogue-act model."""

    def __init__(self, vocab: Vocabulary, acts_model: ActsModel | None,
                 nouns: tuple[str, ...] = ()) -> None:
        self.vocab = vocab
        self.grounder = Grounder(vocab, nouns)
        self.acts_model = acts_model
        self.nouns = nouns

    def read(self, text: str) -> Reading:
        g = self.grounder.ground(text)
        assign(g, self.acts_model, self.nouns)
        if self.acts_model is not None:
            acts = self.acts_model.predict(mask(text, g.char_spans(), self.nouns))
        else:
            acts = Acts({"IQU": 1.0})
        return Reading(text, acts, g)
