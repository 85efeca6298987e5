"""The reflect step: the critic's verdict on an executed plan, whether the turn has its
answer, and the next round's prompt when it has not (a re-plan with the critiques, or the
offline planner after a model that keeps planning what cannot run)."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage

from agent.executor import Execution
from agent.llm import is_rules
from agent.prompts import replan_messages
from agent.reflection import Critique, llm_critique, rule_critique
from agent.trace import AttemptReason, Fallback, PlanAttempt, Reflection
from agent.turn.plan import MAX_FIXES
from agent.turn.state import Collaborators, Outcome, TurnState
from tools.context import ToolContext

PlanKey = list[dict[str, Any]]  # a plan's calls as (name, args), to spot a repeated plan


async def reflect(
    kit: Collaborators, st: TurnState, attempt: PlanAttempt, ctx: ToolContext, recs: list[str]
) -> Critique:
    """The rule critic's verdict on an executed plan (and the LLM critic's, if on)."""
    t0 = time.perf_counter()
    critique = rule_critique(  # item views read in the execute step: no I/O here
        ctx,
        attempt.calls,
        recs,
        hidden_before=st.hidden_before,
        count=st.limit,
    )
    if critique.ok and kit.llm_critic and not is_rules(st.model) and recs:
        try:
            titles = list(kit.catalog.titles(recs).values())
            critique = await llm_critique(
                st.model, st.message, titles, kit.settings.llm_timeout_s
            )
        except Exception as exc:  # the critic is optional: note it and go on
            st.trace.fallbacks.append(Fallback("critic", f"{type(exc).__name__}", "rules"))
    st.trace.add_time("reflect", t0)
    st.trace.reflections.append(
        Reflection(attempt.index, critique.ok, critique.problems, critique.critic)
    )
    return critique


def settled(
    st: TurnState, critique: Critique, recs: list[str], plan_key: PlanKey,
    max_reflections: int,
) -> bool:
    """No further reflection round after this reflected plan."""
    if critique.ok or st.reflections >= max_reflections:
        return True
    if set(critique.codes) <= {"unresolved", "too_few"} and recs:
        # a name not in the catalog cannot be planned away, and fewer items than
        # asked is what the catalog has: answer with them (the reply says so)
        return True
    # the re-plan repeats a plan already run: keep the best result so far
    return bool(st.reflections) and plan_key in st.seen_plans[:-1]


def replan(
    st: TurnState, ai: AIMessage, execution: Execution, critique: Critique,
    reason: AttemptReason,
) -> None:
    """The next round's prompt: the turn's prompt, the last plan with its results, every
    critique's codes so far (compact)."""
    st.critiques.append(critique.to_dict())
    st.messages = st.base_messages + replan_messages(ai, execution.results, st.critiques)
    st.reason, st.critique_text = reason, "; ".join(critique.problems)


def after_reflection(
    kit: Collaborators, st: TurnState, ai: AIMessage, outcome: Outcome, plan_key: PlanKey
) -> None:
    """A reflected plan is kept as an outcome; the turn is done, or re-plans on the
    critique."""
    st.outcomes.append(outcome)
    if settled(st, outcome.critique, outcome.recs, plan_key, kit.settings.max_reflections):
        st.done = True
        return
    st.reflections += 1
    replan(st, ai, outcome.execution, outcome.critique, "reflection")


def after_tool_error(st: TurnState, ai: AIMessage, failed: Outcome, plan_key: PlanKey) -> None:
    """A plan whose tools failed: re-plan with the errors (bounded), else the offline
    plan, else keep it as the turn's outcome."""
    critique = failed.critique
    st.trace.reflections.append(
        Reflection(failed.attempt.index, False, critique.problems, "executor")
    )
    if st.fixes < MAX_FIXES and plan_key not in st.seen_plans:
        st.seen_plans.append(plan_key)
        st.fixes += 1
        replan(st, ai, failed.execution, critique, "fix")
        return
    if not is_rules(st.model):  # still invalid after the repair: the offline plan
        st.trace.fallbacks.append(Fallback(
            "plan", "invalid plan after repair: " + "; ".join(critique.problems)[:200],
            "rules"))
        st.model, st.reason = st.rules, "fallback"
        return
    st.outcomes.append(failed)
    st.done = True
