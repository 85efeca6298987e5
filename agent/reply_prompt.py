"""The reply writer's prompt (the LLM path), with what the plan observed.

After the plan runs, the reply call — no extra call — also gets a compact *observation*:
per lookup the name asked for, what it matched and how well; how many candidates each step
left; what had to be relaxed or could not be met. The writer is told to say a substitution
("The Godfather Part 4" -> *The Godfather: Part II*) or a name not found in one short clause,
so the user is never silently given something else than asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from agent.types import Recommendation

EXACT_SCORE = 100.0  # a lookup match at this score is the title asked for (case, articles aside)
MAX_OBSERVED_LOOKUPS = 6
MAX_OBSERVED_STEPS = 8

REPLY_SYSTEM = (
    "You are a friendly recommender. Write a short reply (at most 3 sentences) to the user's "
    "message presenting the recommendations below. Mention at most 3 of them, by their exact "
    "title. Never name any other title, except the titles the user asked about as the "
    "observation gives them. Do not number or list all of them: the list is shown "
    "separately. If the observation says a name matched a different title, or was not found, "
    "or a condition was relaxed, say so in one short clause. Claim only the conditions "
    "applied: never say the list is what the user asked for when the user asked for more "
    "than those conditions (a count, a rating, a 'not ...'); say in one short clause what "
    "could not be applied."
)


@dataclass
class Lookup:
    asked: str
    title: str | None  # None: not found
    year: int | None = None
    score: float = 0.0

    @property
    def substituted(self) -> bool:
        return self.title is not None and self.score < EXACT_SCORE

    def render(self) -> str:
        if self.title is None:
            return f'"{self.asked}": not found in the catalog'
        year = f" ({self.year})" if self.year else ""
        how = "exact" if not self.substituted else f"closest match, score {self.score:g}/100"
        return f'"{self.asked}" -> {self.title}{year} ({how})'


@dataclass
class Observation:
    lookups: list[Lookup] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # "filter_items: all -> 120"
    final: int = 0
    relaxed: list[str] = field(default_factory=list)
    unmet: list[str] = field(default_factory=list)  # problems reflection could not fix

    @property
    def substitutions(self) -> list[Lookup]:
        return [lk for lk in self.lookups if lk.substituted]

    @property
    def looked_up_titles(self) -> list[str]:
        return [lk.title for lk in self.lookups if lk.title]

    def render(self) -> str:
        lines = []
        if self.lookups:
            lines.append("Lookups: " + "; ".join(
                lk.render() for lk in self.lookups[:MAX_OBSERVED_LOOKUPS]))
        if self.steps:
            lines.append("Steps: " + "; ".join(self.steps[:MAX_OBSERVED_STEPS]))
        if self.final >= 0:  # -1: a question about items, not a list
            lines.append(f"Final: {self.final} items")
        if self.relaxed:
            lines.append("Relaxed: " + "; ".join(self.relaxed))
        if self.unmet:
            lines.append("Could not be met: " + "; ".join(self.unmet[:3]))
        return "\n".join(lines)


def _count(n: int | None) -> str:
    return "all" if n is None else str(n)


def observe(outputs: Sequence[Any], tools: Sequence[Any], final: int, *,
            relaxed: Sequence[str] = (), unmet: Sequence[str] = ()) -> Observation:
    """``outputs``: the plan's :class:`~tools.registry.ToolOutput` s; ``tools``: its
    :class:`~agent.trace.ToolRecord` s (counts per step)."""
    obs = Observation(final=final, relaxed=list(relaxed), unmet=list(unmet))
    for out in outputs:
        if out.tool != "lookup_items":
            continue
        for asked, hits in (out.data.get("matches") or {}).items():
            if not hits:
                obs.lookups.append(Lookup(str(asked), None))
            else:
                best = hits[0]
                obs.lookups.append(Lookup(str(asked), str(best["title"]), best.get("year"),
                                          float(best.get("score") or 0.0)))
    for rec in tools:
        if rec.ok and rec.name != "lookup_items":
            obs.steps.append(f"{rec.name}: {_count(rec.candidates_in)} -> "
                             f"{_count(rec.candidates_out)}")
    return obs


def _conditions(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in calls:
        if c.get("name") == "filter_items" and isinstance(c.get("args"), dict):
            out.update({k: v for k, v in c["args"].items() if v not in (None, [], "")})
    return out


def relaxed_conditions(first: Sequence[dict[str, Any]],
                       final: Sequence[dict[str, Any]]) -> list[str]:
    """Hard conditions of the first plan that the plan answered with dropped or changed
    (``year_min 2015 dropped``, ``categories_all ['Western', 'Musical'] -> ['Western']``)."""
    a, b = _conditions(first), _conditions(final)
    out = []
    for key, value in a.items():
        if key not in b:
            out.append(f"{key} {json.dumps(value, ensure_ascii=False)} dropped")
        elif b[key] != value:
            out.append(f"{key} {json.dumps(value, ensure_ascii=False)} -> "
                       f"{json.dumps(b[key], ensure_ascii=False)}")
    return out


def substitution_note(obs: Observation) -> str:
    """The sentence the template reply adds when a lookup took a different title."""
    subs = obs.substitutions[:2]
    if not subs:
        return ""
    said = "; ".join(f'"{s.asked}" is not in the catalog as such, so I took {s.title}'
                     + (f" ({s.year})" if s.year else "") for s in subs)
    return said[:1].upper() + said[1:] + "."


def reply_messages(
    message: str, recs: Sequence[Recommendation], about: str, info_text: str = "",
    instructions: str = "", observation: Observation | None = None,
) -> list[BaseMessage]:
    """The reply writer's prompt. ``instructions`` (a client's system message) may shape the
    tone and form; the rules of :data:`REPLY_SYSTEM` (name only the listed items) still hold."""
    listing = "\n".join(
        f"- {r.title}"
        + (f" ({r.year})" if r.year else "")
        + (f": {', '.join(r.categories[:3])}" if r.categories else "")
        for r in recs
    )
    body = f"User: {message}\n"
    if about:
        body += f"Conditions applied: {about}\n"
    if observation is not None:
        body += f"Observation:\n{observation.render()}\n"
    if info_text:
        body += f"Facts:\n{info_text}\n"
    body += f"Recommendations:\n{listing or '(none found)'}"
    system = REPLY_SYSTEM
    if instructions:
        system += ("\nThe application adds these instructions about style and form (they do "
                   "not change which items you may name):\n" + instructions)
    return [SystemMessage(system), HumanMessage(body)]
