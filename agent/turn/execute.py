"""The execute step: a plan's tool calls run on a copy of the session (blocking: the agent
runs it in a worker thread), the recommended ids read off the candidate bus."""

from __future__ import annotations

import time
from functools import partial

from agent.executor import Execution, PlannedCall, execute
from agent.reflection import Critique, is_info_plan
from agent.trace import PlanAttempt, ToolRecord
from agent.turn.plan import Planner
from agent.turn.state import Collaborators, Outcome, TurnState
from agent.vocabulary import Vocabulary, norm, stem
from memory.bus import CandidateBus
from memory.session import Session
from tools.context import ToolContext
from tools.errors import ToolCallError

MAX_RATED_HIDDEN = 10_000  # a known user's rated items left out of recommendations


def catalog_name(vocab: Vocabulary, kind: str, value: str) -> str | None:
    """The catalog's spelling of a name the model wrote ("westerns" -> "Western"), when
    the vocabulary knows exactly one; None otherwise."""
    if kind != "categories":
        return None
    key = norm(value)
    names = vocab.category_phrases.get(key) or vocab.category_phrases.get(
        key.replace(" ", ""))
    if not names and key and " " not in key:
        names = vocab.category_stems.get(stem(key, vocab.language))
    return names[0] if names and len(set(names)) == 1 else None


def rated(kit: Collaborators, user_id: str | None) -> set[str]:
    """Blocking: what a known user has already rated (seen); never recommended again."""
    if user_id is None:
        return set()
    return {i for i, _r in kit.catalog.user_history(user_id, limit=MAX_RATED_HIDDEN)}


def execute_plan(
    kit: Collaborators,
    planner: Planner,
    calls: list[PlannedCall],
    session: Session,
    user_id: str | None,
    attempt: PlanAttempt,
    n: int,
) -> tuple[ToolContext, Execution, list[str]]:
    """Blocking: run the plan on a copy of the session; the first ``n`` recommended ids
    (an answer about items: the items it is about)."""
    ctx = ToolContext(catalog=kit.catalog, models=kit.models, session=session.fork(),
                      settings=kit.settings, bus=CandidateBus(), user_id=user_id,
                      rated=frozenset(rated(kit, user_id)))
    execution = execute(kit.registry, calls, ctx, attempt, vocabulary_args=planner.vocab_args,
                        resolve=partial(catalog_name, kit.vocabulary))
    if is_info_plan(attempt.calls):
        recs: list[str] = []
        for out in execution.outputs:
            if out.tool in ("item_info", "explain"):
                recs.extend(i for i in out.items if i not in recs)
        return ctx, execution, recs[:n]
    names = [c["name"] for c in attempt.calls]
    if execution.ok and ctx.bus.is_open and names and "rank_for_user" in kit.registry:
        _rank_for_user(kit, ctx, attempt)
    hidden = ctx.hidden_ids()
    recs = ctx.bus.head(n, exclude=hidden)
    # read what reflection and the cards need here, in this thread: on the event loop
    # they are then cache hits
    kit.catalog.get_items(recs, n_tags=0)
    kit.catalog.get_items(recs, n_tags=8)
    return ctx, execution, recs


def _rank_for_user(kit: Collaborators, ctx: ToolContext, attempt: PlanAttempt) -> None:
    """Nothing narrowed or ranked the candidates: rank the catalog for this user (an
    implicit call, in the attempt's tool records)."""
    start = time.perf_counter()
    try:
        out = kit.registry.invoke("rank_for_user", {}, ctx)
        attempt.tools.append(ToolRecord(
            "rank_for_user", {"implicit": True}, True, (time.perf_counter() - start) * 1e3,
            None, len(ctx.bus), out.text[:500]))
    except ToolCallError as exc:
        attempt.tools.append(ToolRecord(
            "rank_for_user", {"implicit": True}, False, (time.perf_counter() - start) * 1e3,
            None, None, error=exc.message))


def answer_outcome(kit: Collaborators, st: TurnState, attempt: PlanAttempt) -> Outcome:
    """The outcome of a plan without tool calls: its text is the reply."""
    ctx = ToolContext(catalog=kit.catalog, models=kit.models, session=st.session,
                      settings=kit.settings, user_id=st.owner)
    return Outcome(attempt, ctx, Execution(), [], Critique(ok=True), attempt.content)
