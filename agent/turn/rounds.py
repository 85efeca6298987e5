"""A planning round: plan -> execute -> reflect, as events; the turn runs rounds until one
settles its answer (:attr:`TurnState.done`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from agent.executor import planned_calls
from agent.llm import backend_name
from agent.reflection import Critique
from agent.trace import Fallback, PlanAttempt
from agent.turn.execute import answer_outcome, execute_plan
from agent.turn.plan import Planner, plan_round, ungrounded_answer
from agent.turn.reflect import after_reflection, after_tool_error, reflect
from agent.turn.state import MAX_REPLY_CHARS, Collaborators, Outcome, TurnState
from agent.types import TurnEvent


def plan_event(attempt: PlanAttempt) -> dict[str, Any]:
    """The ``plan`` event's data."""
    return {
        "attempt": attempt.index,
        "reason": attempt.reason,
        "backend": attempt.backend,
        "calls": attempt.calls,
        "content": attempt.content,
    }


async def run_round(
    st: TurnState, kit: Collaborators, planner: Planner
) -> AsyncIterator[TurnEvent]:
    """One planning round: plan, execute, reflect. Sets ``st.done`` when the turn has its
    answer; otherwise ``st`` holds the next round's prompt."""
    ai = await plan_round(st, planner, kit)
    if ai is None:
        return
    attempt = st.trace.new_attempt(st.reason, backend_name(st.model), st.critique_text)
    # the planner's text may become the reply (a clarifying question): capped like one
    attempt.content = (ai.content if isinstance(ai.content, str) else "")[:MAX_REPLY_CHARS]
    calls = planned_calls(ai)
    if not calls and ungrounded_answer(st, kit, attempt):
        # an answer naming items without a plan behind it is not grounded in the
        # catalog; after a repair request, text is not the plan asked for
        st.trace.fallbacks.append(Fallback(
            "plan", "the model answered without a plan" if st.repaired_text else
            "the model answered with items without planning", "rules"))
        st.model, st.reason = st.rules, "fallback"
        return
    if not calls:
        yield TurnEvent(type="plan", data=plan_event(attempt))
        if not st.outcomes:  # a re-plan that gives up keeps the best result so far
            st.outcomes.append(answer_outcome(kit, st, attempt))
        st.done = True
        return
    t0 = time.perf_counter()
    ctx, execution, recs = await asyncio.to_thread(
        execute_plan, kit, planner, calls, st.session, st.owner, attempt, st.limit
    )
    st.trace.add_time("tools", t0)
    yield TurnEvent(type="plan", data=plan_event(attempt))
    for rec in attempt.tools:
        yield TurnEvent(type="tool", data=rec.__dict__ | {})
    plan_key = [{"name": c.name, "args": c.args} for c in calls]
    if not execution.ok:
        after_tool_error(st, ai, Outcome(
            attempt, ctx, execution, recs,
            Critique(ok=False, codes=["tool_error"], problems=execution.fixable),
            attempt.content), plan_key)
        return
    st.seen_plans.append(plan_key)
    critique = await reflect(kit, st, attempt, ctx, recs)
    after_reflection(kit, st, ai, Outcome(attempt, ctx, execution, recs, critique,
                                          attempt.content), plan_key)
