"""The agent: one turn = load session + profile -> plan -> execute -> reflect -> respond -> save.

Each step is a unit of its own in :mod:`agent.turn`; :class:`Agent` holds the collaborators
and the caches that outlive a turn, and runs the steps in order.

Stable interface (the API builds on it)::

    agent = Agent(settings=..., catalog=..., models=..., registry=..., sessions=...,
                  profiles=None, llm=None, vocabulary=None)
    await agent.turn(message, *, session_id=None, user_id=None) -> TurnResult
    agent.stream(message, *, session_id=None, user_id=None) -> AsyncIterator[TurnEvent]
        # events: plan {attempt, reason, backend, calls, content}; tool {name, args, ok,
        # duration_ms, candidates_in, candidates_out, summary, error}; recommendations
        # {session_id, recommendations}; delta {text} (or {text, replace: true} when a
        # streamed reply was replaced); done {TurnResult as a dict}; error {code, message}
    await agent.feedback(session_id, item_id, signal, *, user_id=None) -> Session
    await agent.get_session(session_id, *, user_id=None) -> Session
    await agent.forget(session_id, *, user_id=None) -> bool

:meth:`Agent.turn` raises an :class:`agent.errors.AgentError` subclass (InvalidRequest 400,
SessionForbidden 403, SessionUnknown / ItemUnknown 404, SessionConflict 409, StoreUnavailable
503); :meth:`Agent.stream` reports the same as a final ``error`` event instead. A failed turn
leaves the session untouched; a lost compare-and-set race is retried on the fresh session,
then reported as a conflict.

The LLM is any LangChain chat model (``llm``; default from ``settings.llm``). If it fails or
exceeds ``settings.llm_timeout_s``, that turn falls back to the offline rules planner (and
the template reply) and the trace says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence

from langchain_core.language_models import BaseChatModel

from agent.demonstrations import DemonstrationStore
from agent.errors import AgentError, InvalidRequest, ItemUnknown, SessionUnknown, error_event
from agent.llm import close_chat_model, make_chat_model, tool_calling_line
from agent.reflection import is_info_plan
from agent.rules import RulesPlanner
from agent.trace import TurnTrace
from agent.turn.cards import recommendations
from agent.turn.execute import MAX_RATED_HIDDEN
from agent.turn.load import MAX_LIMIT, checked_request, load_session, store_errors
from agent.turn.plan import MAX_FIXES, Planner
from agent.turn.prompt import HISTORY_MESSAGES, first_prompt
from agent.turn.respond import draft, respond
from agent.turn.rounds import run_round
from agent.turn.save import (
    REMEMBERED_PLANS,
    SAVE_ATTEMPTS,
    RememberedPlans,
    merge_profile,
    save_turn,
)
from agent.turn.state import (
    MAX_REPLY_CHARS,
    Collaborators,
    Outcome,
    Reply,
    SessionChanges,
    TurnState,
    best_outcome,
    item_words,
)
from agent.types import Recommendation, TurnEvent, TurnResult
from agent.understanding.acts import load_acts_model
from agent.vocabulary import Vocabulary
from memory.feedback import record_feedback
from memory.profiles import ProfileStore
from memory.session import Feedback, FeedbackSignal, Session, SessionStore
from recagent.settings import Settings
from tools.catalog.protocol import Catalog
from tools.recommenders.bundle import ModelBundle
from tools.registry import ToolRegistry

__all__ = [
    "HISTORY_MESSAGES", "MAX_FIXES", "MAX_INSTRUCTIONS_CHARS", "MAX_LIMIT", "MAX_RATED_HIDDEN",
    "MAX_REPLY_CHARS", "REMEMBERED_PLANS", "SAVE_ATTEMPTS", "SIGNALS", "Agent", "AgentError",
    "item_words", "recommendations_of",
]

log = logging.getLogger(__name__)

MAX_INSTRUCTIONS_CHARS = 2000  # a caller's instruction to the reply writer, at most
SIGNALS: tuple[FeedbackSignal, ...] = ("like", "dislike", "click", "not_interested")


class Agent:
    """The conversational recommender: runs turns over the catalog, the models and the
    tools, keeps each conversation in the session store (see the module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        models: ModelBundle,
        registry: ToolRegistry,
        sessions: SessionStore,
        profiles: ProfileStore | None = None,
        llm: BaseChatModel | None = None,
        vocabulary: Vocabulary | None = None,
        demonstrations: DemonstrationStore | None = None,
        llm_critic: bool = False,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.models = models
        self.registry = registry
        self.sessions = sessions
        self.profiles = profiles
        self.llm_critic = llm_critic
        self._vocabulary = vocabulary
        self._llm = llm
        if llm is None and settings.llm_provider is not None:
            # built now: a missing integration package stops start-up, not the first turn
            self._llm = make_chat_model(settings)
            log.info(tool_calling_line(self._llm))
        self._rules: RulesPlanner | None = None
        self.demonstrations = demonstrations or DemonstrationStore.load(
            learned_path=(
                settings.model_dir.parent / "demonstrations.learned.jsonl"
                if settings.learn_demonstrations
                else None
            ),
            tools=registry.names(),
        )
        self._plans = RememberedPlans()
        self._demos_fitted = demonstrations is not None  # a given store is used as it is
        # fixed after start-up, computed once: tool schemas, their token count, bound tools
        self._planner = Planner(settings.llm_timeout_s)

    # ---- set-up ------------------------------------------------------------------------
    async def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = await asyncio.to_thread(
                Vocabulary.from_catalog, self.catalog, self.settings.language)
        return self._vocabulary

    async def rules(self) -> RulesPlanner:
        if self._rules is None:
            self._rules = RulesPlanner(
                vocabulary=await self.vocabulary(),
                acts_model=await asyncio.to_thread(load_acts_model),
                words=item_words(self.settings),
            )
        return self._rules

    async def llm(self) -> BaseChatModel:
        if self._llm is None:
            if self.settings.llm_model is None:
                self._llm = await self.rules()
            else:
                self._llm = make_chat_model(self.settings)
        return self._llm

    async def aclose(self) -> None:
        """Close the LLM's HTTP clients (ChatOpenAI, ChatOllama keep connection pools open)."""
        if self._llm is not None:
            await close_chat_model(self._llm)

    def set_models(self, models: ModelBundle) -> None:
        """Swap the model bundle (after a reload); turns in flight keep the old one."""
        self.models = models

    async def _collaborators(self) -> Collaborators:
        """What this turn's steps read (the models of now: a reload does not change them)."""
        return Collaborators(
            settings=self.settings, catalog=self.catalog, models=self.models,
            registry=self.registry, vocabulary=await self.vocabulary(),
            llm_critic=self.llm_critic,
        )

    async def _fitted_demonstrations(self) -> DemonstrationStore:
        """The seeded examples of this catalog's domain only (narrowed once)."""
        if not self._demos_fitted:
            vocab = await self.vocabulary()
            self.demonstrations = self.demonstrations.for_catalog(vocab.categories, vocab.titles)
            self._demos_fitted = True
        return self.demonstrations

    # ---- public API --------------------------------------------------------------------
    async def turn(
        self,
        message: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        instructions: str | None = None,
    ) -> TurnResult:
        """One turn. ``limit``: how many items to recommend (1..100; default
        ``settings.recommendations_per_turn``); only those are marked as shown.
        ``instructions``: the caller's instruction to the reply writer (an OpenAI client's
        system message), used where an LLM writes the reply; never a plan or a filter."""
        result: TurnResult | None = None
        async for event in self._turn(message, session_id, user_id, limit, instructions):
            if event.type == "done":
                result = TurnResult.model_validate(event.data)
        assert result is not None
        return result

    async def stream(
        self,
        message: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        instructions: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        try:
            async for event in self._turn(message, session_id, user_id, limit, instructions):
                yield event
        except AgentError as exc:
            yield TurnEvent(type="error", data=error_event(exc))

    async def feedback(
        self, session_id: str, item_id: str, signal: str, *, user_id: str | None = None
    ) -> Session:
        known = next((s for s in SIGNALS if s == signal), None)
        if known is None:
            raise InvalidRequest(f"signal must be one of {', '.join(SIGNALS)}",
                                 code="invalid_signal")
        if not await asyncio.to_thread(self.catalog.has, item_id):
            raise ItemUnknown(f"unknown item {item_id!r}")
        with store_errors():
            saved = await record_feedback(
                self.sessions, self.profiles, session_id,
                Feedback(item_id=item_id, signal=known), user_id=user_id,
            )
        if signal == "like" and self.settings.learn_demonstrations:
            remembered = self._plans.get(session_id)
            if remembered and item_id in saved.last_recommendations:
                await asyncio.to_thread(self.demonstrations.learn, *remembered)
        return saved

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session:
        with store_errors():
            session = await self.sessions.get(session_id, user_id=user_id)
        if session is None:
            raise SessionUnknown()
        return session

    async def forget(self, session_id: str, *, user_id: str | None = None) -> bool:
        with store_errors():
            gone = await self.sessions.delete(session_id, user_id=user_id)
        self._plans.forget(session_id)
        return gone

    # ---- one turn ----------------------------------------------------------------------
    async def _turn(
        self, message: str, session_id: str | None, user_id: str | None, limit: int | None = None,
        instructions: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """The pipeline: load -> prompt -> rounds of (plan -> execute -> reflect) -> respond
        -> save."""
        message, count = checked_request(self.settings, message, limit)
        session = await load_session(self.sessions, self.profiles, session_id, user_id)
        owner = user_id if user_id is not None else session.user_id
        kit = await self._collaborators()
        st = await self._prompt(kit, message, session, owner, count)
        # one more round than fixes + reflections: the offline planner's, after a model that
        # keeps planning what cannot run
        for _round in range(2 + MAX_FIXES + self.settings.max_reflections):
            async for event in run_round(st, kit, self._planner):
                yield event
            if st.done:
                break
        best = best_outcome(st.outcomes)
        async for event in self._respond_and_save(
            kit, st, best, (instructions or "").strip()[:MAX_INSTRUCTIONS_CHARS]
        ):
            yield event

    async def _prompt(
        self, kit: Collaborators, message: str, session: Session, owner: str | None, limit: int
    ) -> TurnState:
        """The turn's first prompt (context, demonstrations, history) and planning state."""
        model = await self.llm()
        rules = await self.rules()
        demonstrations = await self._fitted_demonstrations()
        return first_prompt(
            kit, self._planner, demonstrations, message=message,
            session=session, owner=owner, limit=limit, model=model, rules=rules,
        )

    async def _respond_and_save(
        self, kit: Collaborators, st: TurnState, best: Outcome, instructions: str = ""
    ) -> AsyncIterator[TurnEvent]:
        """The respond and save steps: cards, the reply (streamed), the session saved, the
        profile merged, the plan remembered, the result."""
        session, trace = st.session, st.trace
        info_plan = is_info_plan(best.attempt.calls)
        # an answer about items (item_info, explain) carries its facts in the reply, not a list
        recs = [] if info_plan else recommendations(kit, best)
        yield TurnEvent(
            type="recommendations",
            data={"session_id": session.id, "recommendations": [r.model_dump() for r in recs]},
        )
        reply = Reply("")
        async for event in respond(
            kit, st.message, session, best, st.model, recs,
            draft(kit, session, best, st.model, recs, info_plan), instructions, trace, reply,
        ):
            yield event
        changes = SessionChanges.of(st.message, reply.text, recs, session, best.ctx, info_plan,
                                    st.owner)
        t0 = time.perf_counter()
        saved = await save_turn(self.sessions, session, changes, st.owner)
        trace.add_time("save", t0)
        await merge_profile(self.profiles, st.owner, saved, changes)
        self._plans.remember(saved.id, st.message, best.attempt.calls)
        yield TurnEvent(type="done", data=self._result(saved, reply, recs, trace, st.start))

    @staticmethod
    def _result(saved: Session, reply: Reply, recs: list[Recommendation], trace: TurnTrace,
                start: float) -> dict[str, object]:
        """The ``done`` event's data: the turn's result with its trace and timings."""
        data = trace.to_dict()
        data["tools_ms"] = round(trace.timings_ms.get("tools", 0.0), 3)
        data["excluding_llm_ms"] = round((time.perf_counter() - start) * 1e3 - trace.llm_ms, 3)
        result = TurnResult(session_id=saved.id, reply=reply.text, recommendations=recs,
                            trace=data)
        return result.model_dump()


def recommendations_of(result: TurnResult) -> Sequence[str]:
    return [r.item_id for r in result.recommendations]
