"""The simulated user: a template-driven person (no LLM) looking for one target item.

It opens with one category or the decade; after each miss it says so and reveals one
attribute not given yet; it accepts when the target is in the top ``k``. It never says the
target's title. What it says comes from :class:`Phrasings` (the built-in set below, or a JSON
file), never from the product's code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from recagent.simulation.episodes import (
    Attribute,
    AttributeKind,
    Episode,
    mentions_title,
    overlaps_title,
)
from recagent.simulation.errors import SimulationError
from tools.catalog.text import normalize_title

ACCEPT_K = 5  # the headline cutoff: the user sees 5 items a turn, accepts in the top 5
UtteranceKind = Literal["open", "reveal", "nudge", "accept"]
OPEN_CATEGORY = (
    "I'm looking for a {cat} movie.",
    "Can you recommend some {cat} films?",
    "I'm in the mood for {cat}.",
    "Show me some {cat} movies, please.",
)
OPEN_DECADE = (
    "I'd like a movie from the {dec}.",
    "Something from the {dec}, please.",
    "Recommend me a film made in the {dec}.",
)
REJECT = (
    "No, none of those.",
    "Not quite.",
    "Hmm, that's not what I'm after.",
    "None of these are right.",
    "Not those.",
)
REVEAL = {
    "category": ("It should also be {cat}.", "I'd like it to be {cat} as well.",
                 "Also {cat}, please."),
    "decade": ("It should be from the {dec}.", "Something from the {dec}.",
               "I'd prefer one made in the {dec}."),
    "tag": ("Think {tag}.", "Keyword: {tag}.", "Something with a {tag} vibe."),
    "item": ("I loved {title}, something like that.",
             "Something like {title}, which I really liked.",
             "I enjoyed {title}; more like that please."),
}
NUDGE = (
    "Still not it. Anything else?",
    "None of those either. Show me other options.",
    "Not yet. What else do you have?",
)
ACCEPT = (
    "Yes, that's the one I was looking for!",
    "Great, I'll watch that one.",
    "Perfect, that's exactly it.",
)
NEUTRAL = "Not those. Anything else?"  # if every nudge would name the title


@dataclass(frozen=True)
class Phrasings:
    """What the simulated user says, as templates (``{cat}``, ``{dec}``, ``{tag}``,
    ``{title}``). The default set is above; ``--phrasings FILE`` loads another (JSON with the
    same keys, lower-case: open_category, open_decade, reject, reveal, nudge, accept), so the
    agent can be measured on sentences it was never developed against."""

    open_category: tuple[str, ...] = OPEN_CATEGORY
    open_decade: tuple[str, ...] = OPEN_DECADE
    reject: tuple[str, ...] = REJECT
    reveal: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(REVEAL))
    nudge: tuple[str, ...] = NUDGE
    accept: tuple[str, ...] = ACCEPT

    @classmethod
    def load(cls, path: Path) -> Phrasings:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SimulationError(f"{path}: not readable JSON: {exc}") from None
        base = cls()
        try:
            reveal = {k: tuple(v) for k, v in (data.get("reveal") or base.reveal).items()}
            out = cls(
                open_category=tuple(data.get("open_category") or base.open_category),
                open_decade=tuple(data.get("open_decade") or base.open_decade),
                reject=tuple(data.get("reject") or base.reject), reveal=reveal,
                nudge=tuple(data.get("nudge") or base.nudge),
                accept=tuple(data.get("accept") or base.accept),
            )
        except (AttributeError, TypeError) as exc:
            raise SimulationError(f"{path}: phrasings must be lists of strings: {exc}") from None
        missing = [k for k in REVEAL if not out.reveal.get(k)]
        if missing:
            raise SimulationError(f"{path}: reveal needs templates for {', '.join(missing)}")
        return out


DEFAULT_PHRASINGS = Phrasings()


@dataclass(frozen=True)
class Utterance:
    kind: UtteranceKind
    text: str
    revealed: Attribute | None = None


def decade_phrases(decade: int) -> tuple[str, ...]:
    """1990 -> ("90s", "1990s"); 2000 -> ("2000s",): short forms only where unambiguous."""
    if 1930 <= decade <= 1990:
        return (f"{decade % 100:02d}s", f"{decade}s")
    return (f"{decade}s",)


class SimulatedUser:
    """Looks for ``episode.target_id`` without ever naming it.

    The opening reveals one category or the decade (seeded choice). Every turn whose
    recommendations miss the top ``k`` says so and reveals one attribute not given yet:
    another category, the decade, one of the target's tags, or (with history) an item from
    the user's history similar to the target. The kind of the next attribute is a seeded
    choice among the kinds that still have one; within a kind the most informative comes
    first. Out of attributes, the user just asks for something else."""

    def __init__(self, episode: Episode, *, seed: int, cold_start: bool = False,
                 k: int = ACCEPT_K, restate: bool = False,
                 phrasings: Phrasings = DEFAULT_PHRASINGS) -> None:
        self.say = phrasings
        self.episode = episode
        self.k = k
        self.restate = restate  # diagnostic: every miss restates ALL revealed attributes
        self.rng = random.Random(f"{seed}:{episode.user_id}:{episode.target_id}")
        pools: dict[AttributeKind, list[Attribute]] = {
            "category": [Attribute("category", c.casefold()) for c in episode.categories],
            "decade": ([Attribute("decade", f"{episode.decade}s")]
                       if episode.decade is not None else []),
            "tag": [Attribute("tag", t) for t in episode.tags],
            "item": [] if cold_start else list(episode.similar),
        }
        self.rng.shuffle(pools["category"])
        title_norm = normalize_title(episode.target_title)
        self._pools = {  # nothing that names the target, not even partly
            kind: [a for a in pool if not overlaps_title(a.value, title_norm)]
            for kind, pool in pools.items()
        }
        self.revealed: list[Attribute] = []
        self.done = False

    # -- what the user says

    def opening(self) -> Utterance:
        openers = self._pools["category"][:1] + self._pools["decade"]
        if not openers:  # no category, no year: open with whatever there is
            openers = self._pools["tag"][:1] + self._pools["item"][:1]
        self.rng.shuffle(openers)
        for attr in openers:
            templates = {"category": self.say.open_category,
                         "decade": self.say.open_decade}.get(attr.kind, self.say.reveal[attr.kind])
            text = self._say(templates, attr)
            if text is not None:
                self._take(attr)
                return Utterance("open", text, attr)
        return Utterance("open", "Recommend me a good movie.")

    def react(self, recommended: Sequence[str]) -> Utterance:
        """The answer to one turn's recommendations (ids in rank order)."""
        if self.done:
            raise SimulationError("the conversation is over")
        if self.episode.target_id in list(recommended)[: self.k]:
            self.done = True
            return Utterance("accept", self._pick(self.say.accept, "Yes."))
        reject = self._pick(self.say.reject, "No.")
        for _ in range(sum(len(p) for p in self._pools.values())):  # bounded
            kinds = [kind for kind, pool in self._pools.items() if pool]
            if not kinds:
                break
            attr = self._pools[self.rng.choice(kinds)][0]
            said = self._say(self.say.reveal[attr.kind], attr)
            if said is None:  # every phrasing would name the target: drop it
                self._pools[attr.kind].remove(attr)
                continue
            self._take(attr)
            return Utterance("reveal", f"{reject} {self._restated() or said}", attr)
        nudge = self._pick(self.say.nudge, NEUTRAL)
        summary = self._restated()
        return Utterance("nudge", f"{reject} {summary}" if summary else nudge)

    def _pick(self, phrasings: Sequence[str], fallback: str) -> str:
        """A seeded choice among the phrasings that do not name the target."""
        ok = [p for p in phrasings if not mentions_title(p, self.episode.target_title)]
        return self.rng.choice(ok) if ok else fallback

    def _restated(self) -> str | None:
        """With ``restate``: one sentence with everything revealed so far (None: off, or
        it would name the target)."""
        if not self.restate or not self.revealed:
            return None
        by_kind: dict[str, list[str]] = {}
        for a in self.revealed:
            by_kind.setdefault(a.kind, []).append(a.value)
        cats = by_kind.get("category", [])
        text = "To sum up: I want " + (" and ".join(cats) + " movies" if cats else "a movie")
        for value in by_kind.get("decade", [])[:1]:
            text += f" from the {decade_phrases(int(value[:-1]))[-1]}"
        if by_kind.get("item"):
            text += ", something like " + " and ".join(by_kind["item"])
        text += "."
        if by_kind.get("tag"):
            text += " Think " + ", ".join(by_kind["tag"]) + "."
        return None if mentions_title(text, self.episode.target_title) else text

    @property
    def remaining(self) -> int:
        """Attributes not revealed yet."""
        return sum(len(p) for p in self._pools.values())

    # -- helpers

    def _take(self, attr: Attribute) -> None:
        self._pools[attr.kind].remove(attr)
        self.revealed.append(attr)

    def _say(self, templates: Sequence[str], attr: Attribute) -> str | None:
        """A seeded phrasing of ``attr`` that does not name the target (None: none does)."""
        fills: list[dict[str, str]]
        if attr.kind == "decade":
            fills = [{"dec": d} for d in decade_phrases(int(attr.value[:-1]))]
        elif attr.kind == "category":
            fills = [{"cat": attr.value}]
        elif attr.kind == "tag":
            fills = [{"tag": attr.value}]
        else:
            fills = [{"title": attr.value}]
        options = [t.format(**f) for t in templates for f in fills]
        pick = self.rng.choice(options)
        if not mentions_title(pick, self.episode.target_title):
            return pick
        safe = [o for o in options if not mentions_title(o, self.episode.target_title)]
        return safe[0] if safe else None
