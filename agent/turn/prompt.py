"""The prompt step: what the planner is told (the conversation's context, demonstrations
like the request, the recent history) and the turn's planning state built around it."""

from __future__ import annotations

import time

from langchain_core.language_models import BaseChatModel

from agent.demonstrations import DemonstrationStore
from agent.llm import backend_name
from agent.prompts import HISTORY_TURNS, PlanContext, build_messages
from agent.rules import RulesPlanner
from agent.trace import TurnTrace
from agent.turn.plan import Planner
from agent.turn.state import Collaborators, TurnState
from memory.session import Session

HISTORY_MESSAGES = 2 * HISTORY_TURNS  # the rest of the user's messages: earlier_requests


def plan_context(kit: Collaborators, session: Session, user_id: str | None,
                 count: int) -> PlanContext:
    """The conversation so far, as the planner reads it (cached catalog columns: no I/O)."""
    last = session.last_recommendations
    years = kit.catalog.years(last[:10])
    titles = kit.catalog.titles(
        list(dict.fromkeys(last + session.profile.liked[-10:] + session.profile.disliked[-10:]))
    )
    known_user = kit.knows_user(user_id)
    return PlanContext(
        domain=kit.words.plural,
        last_recommendations=[
            {"id": i, "title": titles.get(i, i), "year": years.get(i)}
            for i in last[:10]
        ],
        liked=[{"id": i, "title": titles.get(i, i)} for i in session.profile.liked[-10:]],
        disliked=[{"id": i, "title": titles.get(i, i)} for i in session.profile.disliked[-10:]],
        expectations=session.profile.expectations.model_dump(),
        summary=session.summary,
        shown_count=len(session.shown),
        known_user=known_user,
        count=count,
        earlier_requests=list(session.collapsed.asked)
        + [m.content for m in session.messages[:-HISTORY_MESSAGES] if m.role == "user"],
    )


def first_prompt(
    kit: Collaborators,
    planner: Planner,
    demonstrations: DemonstrationStore,
    *,
    message: str,
    session: Session,
    owner: str | None,
    limit: int,
    model: BaseChatModel,
    rules: RulesPlanner,
) -> TurnState:
    """The turn's first prompt (context, demonstrations, history) and planning state."""
    trace = TurnTrace(backend=backend_name(model))
    start = time.perf_counter()
    context = plan_context(kit, session, owner, limit)
    # later in a conversation the history shows the task: fewer examples (prompt budget)
    k = kit.settings.demonstrations_k
    demos = demonstrations.similar(message, min(k, 2) if session.messages else k)
    history = [(m.role, m.content) for m in session.messages[-HISTORY_MESSAGES:]]
    messages = build_messages(context, demos, history, message,
                              native_tools=planner.binds_tools(model))
    # a re-plan shows the plan it fixes: it goes without the examples and the earlier
    # reply (prompt budget; the user's messages stay, the offline planner reads them)
    base_messages = build_messages(
        context, [], [(r, t) for r, t in history if r == "user"], message)
    schemas = planner.schemas(kit.registry, kit.vocabulary)
    hidden_before = set(session.profile.disliked) | set(session.shown)
    trace.add_time("prompt", start)
    return TurnState(
        message=message, session=session, owner=owner, limit=limit, model=model,
        rules=rules, trace=trace, start=start, messages=messages,
        base_messages=base_messages, schemas=schemas, hidden_before=hidden_before,
    )
