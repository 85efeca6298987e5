"""Checking a plan's result before answering: a rule critic, and an optional LLM critic.

Rule checks (codes in brackets): a plan that only looked names up [lookup] goes back to the
planner with what it found; nothing to recommend [empty]; a recommendation breaks a hard
condition the plan asked ``filter_items`` for [violated]; a disliked or already-shown item is
recommended [repeat]; a title the user named did not resolve [unresolved]; fewer items than
asked [too_few]. The LLM critic (off by default: it costs a call) returns a structured
:class:`Verdict` through ``with_structured_output(method="function_calling")``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from tools.context import ToolContext

INFO_TOOLS = frozenset({"item_info", "explain"})
LOOKUP_TOOLS = frozenset({"lookup_items", "lookup_categories"})


@dataclass
class Critique:
    ok: bool
    codes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    critic: str = "rules"

    def to_dict(self) -> dict[str, Any]:
        return {"codes": self.codes, "problems": self.problems}


class Verdict(BaseModel):
    """Does the answer satisfy the request?"""

    ok: bool = Field(description="true if the recommendations satisfy the request")
    problems: list[str] = Field(
        default_factory=list, description="what is wrong, short, one per item"
    )


def is_info_plan(calls: Sequence[dict[str, Any]]) -> bool:
    names = {c["name"] for c in calls}
    return bool(names & INFO_TOOLS) and not names & {
        "filter_items",
        "similar_items",
        "search_text",
        "rank_for_user",
        "rank_by_popularity",
    }


def _violations(
    ctx: ToolContext, calls: Sequence[dict[str, Any]], recs: Sequence[str]
) -> list[str]:
    conds = [
        c["args"] for c in calls if c["name"] == "filter_items" and isinstance(c["args"], dict)
    ]
    if not conds or not recs:
        return []
    views = ctx.catalog.get_items(list(recs), n_tags=0)
    out = []
    for item_id in recs:
        v = views.get(item_id)
        if v is None:
            continue
        cats = {c.casefold() for c in v.categories}
        for f in conds:
            why = ""
            none = {c.casefold() for c in f.get("categories_none") or []}
            any_ = {c.casefold() for c in f.get("categories_any") or []}
            all_ = {c.casefold() for c in f.get("categories_all") or []}
            if none & cats:
                why = f"is {', '.join(sorted(none & cats))}"
            elif any_ and not any_ & cats:
                why = f"is not {' or '.join(sorted(any_))}"
            elif all_ and not all_ <= cats:
                why = f"is not {' and '.join(sorted(all_ - cats))}"
            elif f.get("year_min") is not None and (v.year is None or v.year < f["year_min"]):
                why = f"is from {v.year}, before {f['year_min']}"
            elif f.get("year_max") is not None and (v.year is None or v.year > f["year_max"]):
                why = f"is from {v.year}, after {f['year_max']}"
            if why:
                out.append(f"{v.title} {why}")
                break
    return out


def _asked_count(calls: Sequence[dict[str, Any]], count: int) -> int:
    """How many items the plan asked for: the turn's count, or fewer when its last call
    keeps fewer (``limit``: the user asked for a number of items)."""
    last = calls[-1]["args"] if calls and isinstance(calls[-1].get("args"), dict) else {}
    limit = last.get("limit")
    return min(count, limit) if isinstance(limit, int) and limit > 0 else count


def rule_critique(
    ctx: ToolContext,
    calls: Sequence[dict[str, Any]],
    recs: Sequence[str],
    *,
    hidden_before: set[str],
    count: int,
) -> Critique:
    """The rule critic over one executed plan (``hidden_before``: the session's disliked and
    shown items when the turn started)."""
    if not calls:
        return Critique(ok=True)
    if {c["name"] for c in calls} <= LOOKUP_TOOLS:
        # names looked up and nothing planned with them yet: plan with what they found
        return Critique(ok=False, codes=["lookup"], problems=[
            "only looked up; now plan the recommendations with what the lookup found"])
    codes, problems = [], []
    info = is_info_plan(calls)
    if not recs:
        codes.append("empty")
        problems.append("no item is left to recommend" if not info else "no item was found")
    if not info:
        bad = _violations(ctx, calls, recs)
        if bad:
            codes.append("violated")
            problems.append("hard condition broken: " + "; ".join(bad[:1]))
        allowed_again = any(
            isinstance(c["args"], dict) and c["args"].get("include_shown") for c in calls
        )
        repeats = [i for i in recs if i in hidden_before] if not allowed_again else []
        if repeats:
            codes.append("repeat")
            problems.append(
                "already shown or disliked: " + ", ".join(ctx.catalog.label(i) for i in repeats[:3])
            )
        asked = _asked_count(calls, count)
        if recs and len(recs) < asked:
            codes.append("too_few")
            problems.append(f"only {len(recs)} of {asked} items")
    if ctx.notes.unresolved:
        codes.append("unresolved")
        problems.append(
            "not in the catalog: " + ", ".join(repr(n) for n in ctx.notes.unresolved[:3])
        )
    return Critique(ok=not codes, codes=codes, problems=problems)


async def llm_critique(
    model: BaseChatModel, request: str, titles: Sequence[str], timeout_s: float
) -> Critique:
    """Ask ``model`` for a structured verdict on the titles recommended for ``request``."""
    judge = model.with_structured_output(Verdict, method="function_calling")
    listing = "\n".join(f"{k}. {t}" for k, t in enumerate(titles, 1)) or "(nothing)"
    verdict = await asyncio.wait_for(
        judge.ainvoke(
            [
                SystemMessage(
                    "You check a recommender's answer. Judge only whether the listed "
                    "items satisfy the user's explicit conditions."
                ),
                HumanMessage(f"Request: {request}\nRecommended:\n{listing}"),
            ]
        ),
        timeout=timeout_s,
    )
    if not isinstance(verdict, Verdict):
        verdict = Verdict.model_validate(verdict)
    return Critique(
        ok=verdict.ok,
        codes=[] if verdict.ok else ["llm"],
        problems=list(verdict.problems),
        critic="llm",
    )
