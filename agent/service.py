"""The agent: one turn = load session + profile -> plan -> execute -> reflect -> respond -> save.

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

:meth:`Agent.turn` raises :class:`AgentError` (``code``, ``status``: 400 invalid_message,
403 forbidden, 404 not_found, 409 conflict, 503 unavailable); :meth:`Agent.stream` reports the
same as a final ``error`` event instead. A failed turn leaves the session untouched; a lost
compare-and-set race is retried on the fresh session, then reported as a conflict.

The LLM is any LangChain chat model (``llm``; default from ``settings.llm``). If it fails or
exceeds ``settings.llm_timeout_s``, that turn falls back to the offline rules planner (and
the template reply) and the trace says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from agent.demonstrations import DemonstrationStore
from agent.executor import Execution, PlannedCall, execute, planned_calls
from agent.llm import (
    backend_name,
    binds_tools,
    close_chat_model,
    is_rules,
    make_chat_model,
    tool_calling_line,
)
from agent.prompts import (
    HISTORY_TURNS,
    PlanContext,
    build_messages,
    catalog_schemas,
    prompt_tokens,
    replan_messages,
    text_tools_message,
    unreadable_messages,
    vocabulary_args,
)
from agent.reflection import Critique, is_info_plan, llm_critique, rule_critique
from agent.reply_check import check_reply
from agent.reply_prompt import (
    Observation,
    observe,
    relaxed_conditions,
    reply_messages,
    substitution_note,
)
from agent.responder import (
    Card,
    card_reason,
    default_verb,
    describe_request,
    media_of,
    template_reply,
)
from agent.rules import RulesPlanner
from agent.tokens import count_message_tokens
from agent.tool_text import NotAPlan, parse_tool_calls
from agent.trace import Fallback, LLMCall, PlanAttempt, Reflection, ToolRecord, TurnTrace
from agent.types import Recommendation, TurnEvent, TurnResult
from agent.understanding.acts import load_acts_model
from agent.understanding.policy import Words, social_reply
from agent.vocabulary import Vocabulary, norm, stem
from memory.bus import CandidateBus
from memory.session import (
    Expectations,
    Feedback,
    Message,
    Session,
    SessionAccessDenied,
    SessionError,
    SessionNotFound,
    SessionStore,
    VersionConflict,
)
from recagent.settings import Settings
from tools.context import ToolContext
from tools.errors import ToolCallError
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

MAX_FIXES = 2  # re-plans for model-fixable tool errors, per turn
MAX_INSTRUCTIONS_CHARS = 2000  # a caller's instruction to the reply writer, at most
MAX_REPLY_CHARS = 4000  # an LLM-written reply, at most (the model is also capped in tokens)
SAVE_ATTEMPTS = 3
HISTORY_MESSAGES = 2 * HISTORY_TURNS  # the rest of the user's messages: earlier_requests
REMEMBERED_PLANS = 10_000  # (request, plan) of recent turns, for learning demonstrations
SIGNALS = ("like", "dislike", "click", "not_interested")
MAX_RATED_HIDDEN = 10_000  # a known user's rated items left out of recommendations
MAX_LIMIT = 100  # most items one turn may recommend (the API validates the same range)
_RANKERS = ("similar_items", "rank_for_user", "rank_by_popularity", "search_text")


def item_words(settings: Settings) -> Words:
    noun = settings.item_noun.strip()
    plural = (settings.item_noun_plural or "").strip() or (
        noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else
        noun + "es" if noun.endswith(("s", "x", "ch", "sh")) else noun + "s")
    verb = (settings.item_verb or "").strip() or default_verb(noun)
    return Words(noun, plural, verb)


class AgentError(Exception):
    """A turn that cannot be served; ``code``/``status`` map to the HTTP error."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class _Outcome:
    attempt: PlanAttempt
    ctx: ToolContext
    execution: Execution
    recs: list[str]
    critique: Critique
    content: str
    relaxed: list[str] = field(default_factory=list)  # conditions a re-plan let go


@dataclass
class _TurnState:
    """One turn's planning state, carried from round to round."""

    message: str
    session: Session
    owner: str | None
    limit: int
    model: BaseChatModel  # the planner of the next round (the offline one after a fallback)
    rules: RulesPlanner
    trace: TurnTrace
    start: float
    messages: list[BaseMessage]  # the next round's prompt
    base_messages: list[BaseMessage]  # what a re-plan's prompt starts from
    schemas: list[dict[str, Any]]
    hidden_before: set[str]
    outcomes: list[_Outcome] = field(default_factory=list)
    critiques: list[dict[str, Any]] = field(default_factory=list)  # for the re-plan prompt
    seen_plans: list[list[dict[str, Any]]] = field(default_factory=list)
    reason: Any = "initial"
    critique_text: str = ""
    fixes: int = 0
    reflections: int = 0
    repaired_text: bool = False  # an unreadable plan was sent back once
    done: bool = False


def _best_outcome(outcomes: list[_Outcome]) -> _Outcome:
    """The turn's answer: a plan with items (or a plain answer), fewest problems, latest;
    the conditions it let go of the first plan noted."""
    best = max(
        enumerate(outcomes),
        key=lambda p: (
            bool(p[1].recs) or not p[1].attempt.calls,
            -len(p[1].critique.codes),
            p[0],
        ),
    )[1]
    if best is not outcomes[0]:
        best.relaxed = relaxed_conditions(outcomes[0].attempt.calls, best.attempt.calls)
    return best


@dataclass
class _Draft:
    """What a turn's reply is built from (see :meth:`Agent._draft`)."""

    template: str  # the template reply: the answer when no LLM writes one
    about: str  # the request, described
    observation: Observation  # what the plan found, for the reply writer
    clarify: str  # a reply that is not about cards: no LLM rewrites it


@dataclass
class _Reply:
    """The reply's text, as the respond step settles it."""

    text: str


@dataclass
class _SessionChanges:
    """What a turn writes into its session; re-applied to a fresh copy after a lost
    compare-and-set race."""

    message: str
    reply: str
    recs: list[Recommendation]
    info_plan: bool
    owner: str | None
    added_likes: list[str]
    added_dislikes: list[str]
    added_seen: list[str]
    expectations: Expectations | None

    @classmethod
    def of(
        cls, message: str, reply: str, recs: list[Recommendation], session: Session,
        ctx: ToolContext, info_plan: bool, owner: str | None,
    ) -> _SessionChanges:
        """The changes of a turn: its messages, the cards shown, and what the plan changed
        in the working copy's profile (``ctx.session``) against the loaded ``session``."""
        profile = ctx.session.profile
        # items the user named this turn are never recommended back to them later either
        named = [i for i in ctx.bus.mentioned if i not in profile.liked and i not in
                 profile.disliked]
        return cls(
            message=message,
            reply=reply,
            recs=recs,
            info_plan=info_plan,
            owner=owner,
            added_likes=[i for i in profile.liked if i not in session.profile.liked],
            added_dislikes=[i for i in profile.disliked if i not in session.profile.disliked],
            added_seen=[i for i in list(profile.seen) + named if i not in session.profile.seen],
            expectations=profile.expectations if ctx.notes.profile_changes else None,
        )

    def apply(self, s: Session) -> None:
        rec_ids = [r.item_id for r in self.recs]
        s.messages.append(Message(role="user", content=self.message))
        s.messages.append(Message(role="assistant", content=self.reply, recommendations=rec_ids,
                                  reasons=[r.reason for r in self.recs]))
        if not self.info_plan:
            s.shown.extend(i for i in rec_ids if i not in s.shown)
        for i in self.added_likes:
            s.profile.like(i)
        for i in self.added_dislikes:
            s.profile.dislike(i)
        for i in self.added_seen:
            s.profile.saw(i)
        if self.expectations is not None:
            s.profile.expectations = self.expectations.model_copy(deep=True)
        if s.user_id is None and self.owner is not None:
            s.user_id = self.owner


def _item_answers(execution: Execution) -> tuple[list[Any], list[str]]:
    """An answer about items: the facts item_info found, the texts explain wrote."""
    info: list[Any] = []
    why: list[str] = []
    for out in execution.outputs:
        if out.tool == "item_info":
            info.extend(out.data.get("items", []))
        elif out.tool == "explain" and out.text:
            why.append(out.text)
    return info, why


def _seeds_and_query(calls: list[dict[str, Any]], ctx: ToolContext) -> tuple[list[str], str]:
    """The items a plan ranked around (similar_items) and its text query (search_text)."""
    seeds: list[str] = []
    query = ""
    for c in calls:
        raw = c.get("args")
        args: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if c.get("name") == "similar_items":
            seeds += [str(i) for i in (args.get("item_ids") or ctx.bus.mentioned)]
        elif c.get("name") == "search_text" and args.get("query"):
            query = str(args["query"])
    return seeds, query


def _closest_seed(
    seed_cats: dict[str, set[str]], seed_titles: dict[str, str], ranked_by: str,
    categories: list[str],
) -> tuple[str, list[str]]:
    """The seed closest to a card by kind (ties go to the first named): its title and the
    categories they share; nothing when ranked for the user and they share none."""
    best = max(seed_cats, key=lambda s: len(seed_cats[s] & set(categories)))
    if ranked_by == "similar_items" or seed_cats[best] & set(categories):
        return seed_titles.get(best, ""), [c for c in categories if c in seed_cats[best]]
    return "", []


def _card_basis(
    liked: str, because: bool, known_user: bool, ranked_by: str, matched: list[str], query: str
) -> str:
    """What pulled a card up, as ``kind:detail`` (the card's basis)."""
    if liked:
        return f"{'liked' if because else 'similar'}:{liked}"
    if known_user:
        return "personal:"
    if ranked_by == "search_text" and matched:
        return f"text:{query}"
    if ranked_by in ("rank_by_popularity", "rank_for_user"):
        return "popular:"
    return ""


def _usage(msg: BaseMessage) -> tuple[int, int]:
    usage = getattr(msg, "usage_metadata", None) or {}
    return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)


class Agent:
    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Any,
        models: Any,
        registry: ToolRegistry,
        sessions: SessionStore,
        profiles: Any = None,
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
        self._plans: OrderedDict[str, tuple[str, list[dict[str, Any]]]] = OrderedDict()
        self._binds: dict[int, bool] = {}
        self._vocab_args: dict[str, dict[str, str]] = {}
        self._demos_fitted = demonstrations is not None  # a given store is used as it is
        self._schemas: tuple[tuple[str, ...], list[dict[str, Any]]] | None = None
        # fixed after start-up, computed once: the schemas' token count, bound tools
        self._schema_tokens: tuple[list[dict[str, Any]], int] | None = None
        self._bound_tools: dict[int, tuple[BaseChatModel, list[dict[str, Any]], Any]] = {}
        self._domain: str | None = None

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

    def _prompt_tokens(self, messages: list[BaseMessage],
                       schemas: list[dict[str, Any]]) -> int:
        """:func:`prompt_tokens`, the schemas' share counted once per schema list."""
        cached = self._schema_tokens
        if cached is None or cached[0] is not schemas:
            cached = self._schema_tokens = (schemas, prompt_tokens([], schemas))
        return count_message_tokens(list(messages)) + cached[1]

    def _bound(self, model: BaseChatModel, schemas: list[dict[str, Any]]) -> Any:
        """``model.bind_tools(schemas)``, made once per model and schema list."""
        hit = self._bound_tools.get(id(model))
        if hit is None or hit[0] is not model or hit[1] is not schemas:
            hit = self._bound_tools[id(model)] = (model, schemas, model.bind_tools(schemas))
        return hit[2]

    async def _tool_schemas(self) -> list[dict[str, Any]]:
        """The registry's schemas with the catalog's vocabularies in them (enums), built
        once per registry state."""
        key = tuple(self.registry.names())
        if self._schemas is None or self._schemas[0] != key:
            vocab = await self.vocabulary()
            raw = self.registry.schemas()
            self._vocab_args = vocabulary_args(raw)
            self._schemas = (key, catalog_schemas(raw, {"categories": vocab.categories}))
        return self._schemas[1]

    def _catalog_name(self, kind: str, value: str) -> str | None:
        """The catalog's spelling of a name the model wrote ("westerns" -> "Western"), when
        the vocabulary knows exactly one; None otherwise."""
        vocab = self._vocabulary
        if vocab is None or kind != "categories":
            return None
        key = norm(value)
        names = vocab.category_phrases.get(key) or vocab.category_phrases.get(
            key.replace(" ", ""))
        if not names and key and " " not in key:
            names = vocab.category_stems.get(stem(key, vocab.language))
        return names[0] if names and len(set(names)) == 1 else None

    def _binds_tools(self, model: BaseChatModel) -> bool:
        """Cached per model: does it take tool schemas natively (else: tools as text)."""
        known = self._binds.get(id(model))
        if known is None:
            known = self._binds[id(model)] = binds_tools(model)
        return known

    async def aclose(self) -> None:
        """Close the LLM's HTTP clients (ChatOpenAI, ChatOllama keep connection pools open)."""
        if self._llm is not None:
            await close_chat_model(self._llm)

    def set_models(self, models: Any) -> None:
        """Swap the model bundle (after a reload); turns in flight keep the old one."""
        self.models = models

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
            yield TurnEvent(type="error", data={"code": exc.code, "message": exc.message})

    async def feedback(
        self, session_id: str, item_id: str, signal: str, *, user_id: str | None = None
    ) -> Session:
        from memory.feedback import record_feedback

        if signal not in SIGNALS:
            raise AgentError("invalid_signal", f"signal must be one of {', '.join(SIGNALS)}", 400)
        if not await asyncio.to_thread(self.catalog.has, item_id):
            raise AgentError("not_found", f"unknown item {item_id!r}", 404)
        try:
            saved = await record_feedback(
                self.sessions,
                self.profiles,
                session_id,
                Feedback(item_id=item_id, signal=signal),  # type: ignore[arg-type]
                user_id=user_id,
            )
        except SessionNotFound:
            raise AgentError("not_found", "unknown session", 404) from None
        except SessionAccessDenied as exc:
            raise AgentError("forbidden", str(exc), 403) from None
        except VersionConflict:
            raise AgentError("conflict", "the session changed concurrently; retry", 409) from None
        except SessionError as exc:
            raise AgentError("unavailable", str(exc), 503) from None
        if signal == "like" and self.settings.learn_demonstrations:
            remembered = self._plans.get(session_id)
            if remembered and item_id in saved.last_recommendations:
                await asyncio.to_thread(self.demonstrations.learn, *remembered)
        return saved

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> Session:
        try:
            session = await self.sessions.get(session_id, user_id=user_id)
        except SessionAccessDenied as exc:
            raise AgentError("forbidden", str(exc), 403) from None
        except SessionError as exc:
            raise AgentError("unavailable", str(exc), 503) from None
        if session is None:
            raise AgentError("not_found", "unknown session", 404)
        return session

    async def forget(self, session_id: str, *, user_id: str | None = None) -> bool:
        try:
            gone = await self.sessions.delete(session_id, user_id=user_id)
        except SessionAccessDenied as exc:
            raise AgentError("forbidden", str(exc), 403) from None
        except SessionError as exc:
            raise AgentError("unavailable", str(exc), 503) from None
        self._plans.pop(session_id, None)
        return gone

    # ---- one turn ----------------------------------------------------------------------
    async def _load(self, session_id: str | None, user_id: str | None) -> Session:
        try:
            session = await self.sessions.get(session_id, user_id=user_id) if session_id else None
        except SessionAccessDenied as exc:
            raise AgentError("forbidden", str(exc), 403) from None
        except SessionError as exc:
            raise AgentError("unavailable", str(exc), 503) from None
        if session is None:
            session = (
                Session(user_id=user_id)
                if session_id is None
                else Session(id=session_id, user_id=user_id)
            )
            if user_id is not None and self.profiles is not None:
                profile = await self.profiles.aget(user_id)
                session.profile = profile.to_session_profile()
        return session

    def _context(self, session: Session, user_id: str | None, count: int) -> PlanContext:
        if self._domain is None:
            self._domain = item_words(self.settings).plural
        last = session.last_recommendations
        years = self.catalog.years(last[:10])
        titles = self.catalog.titles(
            list(dict.fromkeys(last + session.profile.liked[-10:] + session.profile.disliked[-10:]))
        )
        known_user = False
        if user_id is not None:
            try:
                known_user = bool(self.models.default.knows_user(user_id))
            except LookupError:
                known_user = False
        return PlanContext(
            domain=self._domain,
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

    async def _plan(
        self,
        model: BaseChatModel,
        messages: list[BaseMessage],
        schemas: list[dict[str, Any]],
        trace: TurnTrace,
    ) -> AIMessage:
        backend = backend_name(model)
        trace.prompt_tokens.append(self._prompt_tokens(messages, schemas))
        start = time.perf_counter()
        try:
            if self._binds_tools(model):
                call = self._bound(model, schemas).ainvoke(messages)
            else:  # the tools described in the prompt; the calls come back as text
                call = model.ainvoke([*messages[:1], text_tools_message(schemas), *messages[1:]])
            # the LLM timeout is for a remote model; the offline planner is local work
            msg = await (call if is_rules(model)
                         else asyncio.wait_for(call, timeout=self.settings.llm_timeout_s))
        except Exception as exc:
            trace.llm_calls.append(
                LLMCall(
                    "plan",
                    backend,
                    (time.perf_counter() - start) * 1e3,
                    error=f"{type(exc).__name__}: {str(exc)[:200]}",
                )
            )
            raise
        tin, tout = _usage(msg)
        trace.llm_calls.append(
            LLMCall("plan", backend, (time.perf_counter() - start) * 1e3, tin, tout)
        )
        if not isinstance(msg, AIMessage):
            msg = AIMessage(content=str(getattr(msg, "content", "")))
        return msg

    def _execute(
        self,
        calls: list[PlannedCall],
        session: Session,
        user_id: str | None,
        attempt: PlanAttempt,
        n: int,
    ) -> tuple[ToolContext, Execution, list[str]]:
        """Blocking: run the plan on a copy of the session; the first ``n`` recommended ids."""
        ctx = ToolContext(
            catalog=self.catalog,
            models=self.models,
            session=session.fork(),
            settings=self.settings,
            bus=CandidateBus(),
            user_id=user_id,
        )
        execution = execute(self.registry, calls, ctx, attempt,
                            vocabulary_args=self._vocab_args, resolve=self._catalog_name)
        names = [c["name"] for c in attempt.calls]
        if is_info_plan(attempt.calls):
            recs: list[str] = []
            for out in execution.outputs:
                if out.tool in ("item_info", "explain"):
                    recs.extend(i for i in out.items if i not in recs)
            return ctx, execution, recs[:n]
        if execution.ok and ctx.bus.is_open and names and "rank_for_user" in self.registry:
            # nothing narrowed or ranked the candidates: rank the catalog for this user
            start = time.perf_counter()
            try:
                out = self.registry.invoke("rank_for_user", {}, ctx)
                attempt.tools.append(
                    ToolRecord(
                        "rank_for_user",
                        {"implicit": True},
                        True,
                        (time.perf_counter() - start) * 1e3,
                        None,
                        len(ctx.bus),
                        out.text[:500],
                    )
                )
            except ToolCallError as exc:
                attempt.tools.append(
                    ToolRecord(
                        "rank_for_user",
                        {"implicit": True},
                        False,
                        (time.perf_counter() - start) * 1e3,
                        None,
                        None,
                        error=exc.message,
                    )
                )
        hidden = ctx.hidden_ids() | self._rated(user_id)
        recs = ctx.bus.head(n, exclude=hidden)
        # read what reflection and the cards need here, in this thread: on the event loop
        # they are then cache hits
        self.catalog.get_items(recs, n_tags=0)
        self.catalog.get_items(recs, n_tags=8)
        return ctx, execution, recs

    def _rated(self, user_id: str | None) -> set[str]:
        """Blocking: what a known user has already rated (seen); never recommended again."""
        if user_id is None:
            return set()
        return {i for i, _r in self.catalog.user_history(user_id, limit=MAX_RATED_HIDDEN)}

    def _checked_request(self, message: str, limit: int | None) -> tuple[str, int]:
        """The turn's message (stripped) and item count; a 400 :class:`AgentError` if bad."""
        if limit is None:
            limit = self.settings.recommendations_per_turn
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise AgentError("invalid_limit", f"limit must be an integer in 1..{MAX_LIMIT}", 400)
        message = (message or "").strip()
        if not message:
            raise AgentError("invalid_message", "message is empty", 400)
        if len(message) > self.settings.max_message_chars:
            raise AgentError(
                "invalid_message",
                f"message is longer than {self.settings.max_message_chars} characters",
                400,
            )
        return message, limit

    async def _turn(
        self, message: str, session_id: str | None, user_id: str | None, limit: int | None = None,
        instructions: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """The pipeline: load -> prompt -> rounds of (plan -> execute -> reflect) -> respond
        -> save."""
        message, count = self._checked_request(message, limit)
        session = await self._load(session_id, user_id)
        owner = user_id if user_id is not None else session.user_id
        st = await self._prompt(message, session, owner, count)
        # one more round than fixes + reflections: the offline planner's, after a model that
        # keeps planning what cannot run
        for _round in range(2 + MAX_FIXES + self.settings.max_reflections):
            async for event in self._round(st):
                yield event
            if st.done:
                break
        best = _best_outcome(st.outcomes)
        async for event in self._respond_and_save(
            message, session, owner, best, st.model, st.trace, st.start,
            (instructions or "").strip()[:MAX_INSTRUCTIONS_CHARS],
        ):
            yield event

    async def _prompt(
        self, message: str, session: Session, owner: str | None, limit: int
    ) -> _TurnState:
        """The turn's first prompt (context, demonstrations, history) and planning state."""
        model = await self.llm()
        rules = await self.rules()
        trace = TurnTrace(backend=backend_name(model))
        start = time.perf_counter()
        context = self._context(session, owner, limit)  # cached columns: no I/O
        if not self._demos_fitted:  # the seeded examples of this catalog's domain only
            vocab = await self.vocabulary()
            self.demonstrations = self.demonstrations.for_catalog(vocab.categories, vocab.titles)
            self._demos_fitted = True
        # later in a conversation the history shows the task: fewer examples (prompt budget)
        k = self.settings.demonstrations_k
        demos = self.demonstrations.similar(message, min(k, 2) if session.messages else k)
        history = [(m.role, m.content) for m in session.messages[-HISTORY_MESSAGES:]]
        messages = build_messages(context, demos, history, message,
                                  native_tools=self._binds_tools(model))
        # a re-plan shows the plan it fixes: it goes without the examples and the earlier
        # reply (prompt budget; the user's messages stay, the offline planner reads them)
        base_messages = build_messages(
            context, [], [(r, t) for r, t in history if r == "user"], message)
        schemas = await self._tool_schemas()
        hidden_before = set(session.profile.disliked) | set(session.shown)
        trace.add_time("prompt", start)
        return _TurnState(
            message=message, session=session, owner=owner, limit=limit, model=model,
            rules=rules, trace=trace, start=start, messages=messages,
            base_messages=base_messages, schemas=schemas, hidden_before=hidden_before,
        )

    async def _round(self, st: _TurnState) -> AsyncIterator[TurnEvent]:
        """One planning round: plan, execute, reflect. Sets ``st.done`` when the turn has its
        answer; otherwise ``st`` holds the next round's prompt."""
        ai = await self._plan_round(st)
        if ai is None:
            return
        attempt = st.trace.new_attempt(st.reason, backend_name(st.model), st.critique_text)
        # the planner's text may become the reply (a clarifying question): capped like one
        attempt.content = (ai.content if isinstance(ai.content, str) else "")[:MAX_REPLY_CHARS]
        calls = planned_calls(ai)
        if not calls and await self._ungrounded_answer(st, attempt):
            # an answer naming items without a plan behind it is not grounded in the
            # catalog; after a repair request, text is not the plan asked for
            st.trace.fallbacks.append(Fallback(
                "plan", "the model answered without a plan" if st.repaired_text else
                "the model answered with items without planning", "rules"))
            st.model, st.reason = st.rules, "fallback"
            return
        if not calls:
            yield TurnEvent(type="plan", data=self._plan_event(attempt))
            if not st.outcomes:  # a re-plan that gives up keeps the best result so far
                st.outcomes.append(self._answer_outcome(st, attempt))
            st.done = True
            return
        t0 = time.perf_counter()
        ctx, execution, recs = await asyncio.to_thread(
            self._execute, calls, st.session, st.owner, attempt, st.limit
        )
        st.trace.add_time("tools", t0)
        yield TurnEvent(type="plan", data=self._plan_event(attempt))
        for rec in attempt.tools:
            yield TurnEvent(type="tool", data=rec.__dict__ | {})
        plan_key = [{"name": c.name, "args": c.args} for c in calls]
        if not execution.ok:
            self._after_tool_error(st, ai, _Outcome(
                attempt, ctx, execution, recs,
                Critique(ok=False, codes=["tool_error"], problems=execution.fixable),
                attempt.content), plan_key)
            return
        st.seen_plans.append(plan_key)
        critique = await self._reflect(st, attempt, ctx, recs)
        st.outcomes.append(_Outcome(attempt, ctx, execution, recs, critique, attempt.content))
        if self._settled(st, critique, recs, plan_key):
            st.done = True
            return
        st.reflections += 1
        st.critiques.append(critique.to_dict())
        # compact: the turn's prompt, the last plan with its results, every critique's codes
        st.messages = st.base_messages + replan_messages(ai, execution.results, st.critiques)
        st.reason, st.critique_text = "reflection", "; ".join(critique.problems)

    async def _plan_round(self, st: _TurnState) -> AIMessage | None:
        """Plan once (the offline planner if the model fails); None: an unreadable plan was
        sent back for repair, plan again."""
        try:
            ai = await self._plan(st.model, st.messages, st.schemas, st.trace)
        except Exception as exc:
            if is_rules(st.model):
                raise
            st.trace.fallbacks.append(
                Fallback("plan", f"{type(exc).__name__}: {str(exc)[:200]}", "rules")
            )
            st.model = st.rules
            st.reason = "fallback"
            ai = await self._plan(st.model, st.messages, st.schemas, st.trace)
        if not is_rules(st.model) and not ai.tool_calls and isinstance(ai.content, str):
            return await self._read_written_plan(st, ai, ai.content)
        return ai

    async def _read_written_plan(
        self, st: _TurnState, ai: AIMessage, text: str
    ) -> AIMessage | None:
        """Tool calls written as text (Hermes/Qwen tags, bare or fenced JSON); one repair
        round for an unreadable plan (None), then the offline planner's plan."""
        try:
            written = parse_tool_calls(text, self.registry.names())
        except NotAPlan as exc:
            if not st.repaired_text and st.fixes < MAX_FIXES:  # one repair round
                st.repaired_text = True
                st.fixes += 1
                st.trace.reflections.append(Reflection(
                    len(st.trace.attempts), False, [f"unreadable plan: {exc}"], "parser"))
                st.messages = st.base_messages + unreadable_messages(text, str(exc))
                st.reason, st.critique_text = "fix", f"unreadable plan: {exc}"
                return None
            st.trace.fallbacks.append(Fallback("plan", f"unreadable plan: {exc}", "rules"))
            st.model, st.reason = st.rules, "fallback"
            return await self._plan(st.model, st.messages, st.schemas, st.trace)
        return AIMessage(content="", tool_calls=written) if written else ai

    async def _ungrounded_answer(self, st: _TurnState, attempt: PlanAttempt) -> bool:
        """A model's answer without a plan that cannot stand: any text after a repair request,
        or text naming items."""
        if is_rules(st.model):
            return False
        if st.repaired_text:
            return True
        return bool(attempt.content) and bool(
            check_reply(attempt.content, [], vocabulary=await self.vocabulary()))

    def _answer_outcome(self, st: _TurnState, attempt: PlanAttempt) -> _Outcome:
        """The outcome of a plan without tool calls: its text is the reply."""
        ctx = ToolContext(
            catalog=self.catalog,
            models=self.models,
            session=st.session,
            settings=self.settings,
            user_id=st.owner,
        )
        return _Outcome(attempt, ctx, Execution(), [], Critique(ok=True), attempt.content)

    def _after_tool_error(
        self, st: _TurnState, ai: AIMessage, failed: _Outcome, plan_key: list[dict[str, Any]]
    ) -> None:
        """A plan whose tools failed: re-plan with the errors (bounded), else the offline
        plan, else keep it as the turn's outcome."""
        critique = failed.critique
        st.trace.reflections.append(
            Reflection(failed.attempt.index, False, critique.problems, "executor")
        )
        if st.fixes < MAX_FIXES and plan_key not in st.seen_plans:
            st.seen_plans.append(plan_key)
            st.fixes += 1
            st.critiques.append(critique.to_dict())
            st.messages = st.base_messages + replan_messages(
                ai, failed.execution.results, st.critiques)
            st.reason, st.critique_text = "fix", "; ".join(critique.problems)
            return
        if not is_rules(st.model):  # still invalid after the repair: the offline plan
            st.trace.fallbacks.append(Fallback(
                "plan", "invalid plan after repair: " + "; ".join(critique.problems)[:200],
                "rules"))
            st.model, st.reason = st.rules, "fallback"
            return
        st.outcomes.append(failed)
        st.done = True

    async def _reflect(
        self, st: _TurnState, attempt: PlanAttempt, ctx: ToolContext, recs: list[str]
    ) -> Critique:
        """The rule critic's verdict on an executed plan (and the LLM critic's, if on)."""
        t0 = time.perf_counter()
        critique = rule_critique(  # item views read in _execute: no I/O here
            ctx,
            attempt.calls,
            recs,
            hidden_before=st.hidden_before,
            count=st.limit,
        )
        if critique.ok and self.llm_critic and not is_rules(st.model) and recs:
            try:
                titles = list(self.catalog.titles(recs).values())
                critique = await llm_critique(
                    st.model, st.message, titles, self.settings.llm_timeout_s
                )
            except Exception as exc:  # the critic is optional: note it and go on
                st.trace.fallbacks.append(Fallback("critic", f"{type(exc).__name__}", "rules"))
        st.trace.add_time("reflect", t0)
        st.trace.reflections.append(
            Reflection(attempt.index, critique.ok, critique.problems, critique.critic)
        )
        return critique

    def _settled(
        self, st: _TurnState, critique: Critique, recs: list[str],
        plan_key: list[dict[str, Any]],
    ) -> bool:
        """No further reflection round after this reflected plan."""
        if critique.ok or st.reflections >= self.settings.max_reflections:
            return True
        if set(critique.codes) <= {"unresolved", "too_few"} and recs:
            # a name not in the catalog cannot be planned away, and fewer items than
            # asked is what the catalog has: answer with them (the reply says so)
            return True
        # the re-plan repeats a plan already run: keep the best result so far
        return bool(st.reflections) and plan_key in st.seen_plans[:-1]

    @staticmethod
    def _plan_event(attempt: PlanAttempt) -> dict[str, Any]:
        return {
            "attempt": attempt.index,
            "reason": attempt.reason,
            "backend": attempt.backend,
            "calls": attempt.calls,
            "content": attempt.content,
        }

    async def _recommendations(self, outcome: _Outcome) -> list[Recommendation]:
        """The cards of a turn, each with its own reason (what of the request it meets, what
        pulled it up), a link and a picture when the catalog has them."""
        ids = outcome.recs
        if not ids:
            return []
        ctx = outcome.ctx
        views = self.catalog.get_items(ids, n_tags=8)  # read in _execute's thread
        filters = ctx.notes.filters
        asked_categories = [c for f in filters for c in (*f.categories_all, *f.categories_any)]
        asked_period = any(f.year_min is not None or f.year_max is not None for f in filters)
        ranked_by = next((e.tool for e in reversed(ctx.bus.log) if e.tool in _RANKERS), "")
        liked_ids = list(ctx.session.profile.liked)
        seeds, query = _seeds_and_query(outcome.attempt.calls, ctx)
        if ranked_by == "rank_for_user":
            seeds = liked_ids[-10:]
        disliked = set(ctx.session.profile.disliked)  # a disliked title pulls nothing up
        seeds = [i for i in dict.fromkeys(seeds) if i not in ids and i not in disliked]
        seed_cats = {i: set(self.catalog.item_categories(i)) for i in seeds[:10]}
        seed_titles = self.catalog.titles(list(seed_cats)) if seed_cats else {}
        known_user = False
        if ranked_by == "rank_for_user" and not seeds and ctx.user_id is not None:
            try:
                known_user = bool(self.models.default.knows_user(ctx.user_id))
            except LookupError:
                known_user = False
        words = {w for w in norm(query).split() if len(w) > 2}
        noun = item_words(self.settings).noun
        out: list[Recommendation] = []
        for rank, i in enumerate(ids):
            v = views.get(i)
            if v is None:
                continue
            liked = ""
            shared: list[str] = []
            if seed_cats and ranked_by in ("similar_items", "rank_for_user"):
                liked, shared = _closest_seed(seed_cats, seed_titles, ranked_by, v.categories)
            matched = [t for t in v.tags if words & set(norm(t).split())] if words else []
            because = bool(liked) and any(seed_titles.get(s) == liked for s in liked_ids)
            reason = card_reason(
                categories=v.categories,
                year=v.year,
                asked_categories=asked_categories,
                asked_period=asked_period,
                liked=liked,
                shared=shared,
                because_liked=because,
                personal=known_user,
                matched=matched,
                rating_avg=v.rating_avg,
                rating_count=v.rating_count,
                noun=noun,
            )
            basis = _card_basis(liked, because, known_user, ranked_by, matched, query)
            score = ctx.bus.score_of(i)
            link, image = media_of(v.attributes)
            out.append(
                Card(
                    item_id=i,
                    title=v.title,
                    score=round(float(score), 6) if score == score else 0.0,
                    reason=reason,
                    year=v.year,
                    categories=v.categories,
                    link=link,
                    image=image,
                ).with_basis(basis if rank < 10 else "")
            )
        return out

    async def _respond_and_save(
        self,
        message: str,
        session: Session,
        owner: str | None,
        best: _Outcome,
        model: BaseChatModel,
        trace: TurnTrace,
        start: float,
        instructions: str = "",
    ) -> AsyncIterator[TurnEvent]:
        """The respond and save steps: cards, the reply (streamed), the session saved, the
        profile merged, the plan remembered, the result."""
        info_plan = is_info_plan(best.attempt.calls)
        # an answer about items (item_info, explain) carries its facts in the reply, not a list
        recs = [] if info_plan else await self._recommendations(best)
        yield TurnEvent(
            type="recommendations",
            data={"session_id": session.id, "recommendations": [r.model_dump() for r in recs]},
        )
        draft = self._draft(session, best, model, recs, info_plan)
        reply = _Reply(draft.template)
        t0 = time.perf_counter()
        if not is_rules(model) and not draft.clarify:
            async for event in self._write_reply(
                message, session, best, model, recs, draft, instructions, trace, reply
            ):
                yield event
        else:
            yield TurnEvent(type="delta", data={"text": reply.text})
        trace.add_time("respond", t0)

        changes = _SessionChanges.of(message, reply.text, recs, session, best.ctx, info_plan,
                                     owner)
        t0 = time.perf_counter()
        saved = await self._save(session, changes.apply, owner)
        trace.add_time("save", t0)
        await self._merge_profile(owner, saved, changes)
        self._remember_plan(saved.id, message, best.attempt.calls)
        data = trace.to_dict()
        data["tools_ms"] = round(trace.timings_ms.get("tools", 0.0), 3)
        data["excluding_llm_ms"] = round((time.perf_counter() - start) * 1e3 - trace.llm_ms, 3)
        result = TurnResult(session_id=saved.id, reply=reply.text, recommendations=recs,
                            trace=data)
        yield TurnEvent(type="done", data=result.model_dump())

    def _draft(
        self, session: Session, best: _Outcome, model: BaseChatModel,
        recs: list[Recommendation], info_plan: bool,
    ) -> _Draft:
        """What the reply is built from: the template reply, the observation for the reply
        writer, and the clarifying text that replaces a written reply."""
        ctx = best.ctx
        info, why = _item_answers(best.execution) if info_plan else ([], [])
        about = describe_request(ctx.notes.filters, [])
        # what the plan found, for the reply writer (and a substitution for the template)
        observation = observe(
            best.execution.outputs, best.attempt.tools, -1 if info_plan else len(recs),
            relaxed=best.relaxed,
            unmet=[p for c, p in zip(best.critique.codes, best.critique.problems, strict=False)
                   if c not in ("unresolved", "repeat")])
        clarify = note = ""
        if not best.attempt.calls:
            clarify = best.content or social_reply(bool(session.shown), item_words(self.settings))
        else:
            note = " ".join(n for n in (substitution_note(observation),
                                        best.content if is_rules(model) else "") if n)
        if why and not clarify:
            clarify = "Why I picked it — " + " ".join(why)
        template = template_reply(
            recs, about=about, filters=ctx.notes.filters, words=item_words(self.settings),
            info=info, clarify=clarify, unresolved=ctx.notes.unresolved, note=note,
        )
        return _Draft(template, about, observation, clarify)

    async def _write_reply(
        self,
        message: str,
        session: Session,
        best: _Outcome,
        model: BaseChatModel,
        recs: list[Recommendation],
        draft: _Draft,
        instructions: str,
        trace: TurnTrace,
        reply: _Reply,
    ) -> AsyncIterator[TurnEvent]:
        """The LLM writes the reply (streamed as deltas, capped); on failure, or when it names
        items not recommended, the template replaces it. The final text goes into ``reply``."""
        template = draft.template
        streamed: list[str] = []
        llm_start = time.perf_counter()
        tin = tout = 0
        try:
            async with asyncio.timeout(self.settings.llm_timeout_s):
                info_text = "\n".join(
                    o.text for o in best.execution.outputs if o.tool == "item_info"
                )
                async for chunk in model.astream(
                    reply_messages(message, recs, draft.about, info_text, instructions,
                                   draft.observation)
                ):
                    text = chunk.content if isinstance(chunk.content, str) else ""
                    if isinstance(chunk, AIMessageChunk) and chunk.usage_metadata:
                        tin, tout = _usage(chunk)
                    if text:
                        room = MAX_REPLY_CHARS - sum(len(t) for t in streamed)
                        if room <= 0:
                            trace.fallbacks.append(Fallback(
                                "respond", f"reply cut at {MAX_REPLY_CHARS} characters",
                                "truncated"))
                            break  # a runaway model: the reply stops here
                        text = text[:room]
                        streamed.append(text)
                        yield TurnEvent(type="delta", data={"text": text})
            trace.llm_calls.append(
                LLMCall(
                    "respond",
                    backend_name(model),
                    (time.perf_counter() - llm_start) * 1e3,
                    tin,
                    tout,
                )
            )
            reply.text = "".join(streamed).strip() or template
        except Exception as exc:
            trace.llm_calls.append(
                LLMCall(
                    "respond",
                    backend_name(model),
                    (time.perf_counter() - llm_start) * 1e3,
                    error=f"{type(exc).__name__}",
                )
            )
            trace.fallbacks.append(
                Fallback("respond", f"{type(exc).__name__}: {str(exc)[:200]}", "template")
            )
            reply.text = template
            if streamed:
                yield TurnEvent(type="delta", data={"text": reply.text, "replace": True})
                streamed = []
        if streamed or reply.text != template:
            bad = await self._unrecommended_names(reply.text, session, best.ctx, recs,
                                                  draft.observation)
            if bad:
                trace.fallbacks.append(
                    Fallback(
                        "reply-check",
                        "reply named items not recommended: " + ", ".join(bad[:3]),
                        "template",
                    )
                )
                reply.text = template
                yield TurnEvent(type="delta", data={"text": reply.text, "replace": True})

    async def _unrecommended_names(
        self, reply: str, session: Session, ctx: ToolContext, recs: list[Recommendation],
        observation: Any,
    ) -> list[str]:
        """The items a written reply names that it may not (not among the cards)."""
        suspects = [
            self.catalog.label(i) for i in ctx.bus.slice(len(recs), len(recs) + 30)
        ]
        suspects += list(
            self.catalog.titles(
                session.shown[-50:]
                + session.profile.liked[-20:]
                + session.profile.disliked[-20:]
            ).values()
        )
        return check_reply(
            reply, recs, suspects=suspects, vocabulary=await self.vocabulary(),
            allowed=observation.looked_up_titles,
        )

    async def _merge_profile(
        self, owner: str | None, saved: Session, changes: _SessionChanges
    ) -> None:
        """A known user's likes, dislikes and expectations of this turn into the durable
        profile; a failure is logged (the turn is saved; the profile catches up later)."""
        if (
            owner is not None
            and self.profiles is not None
            and (changes.added_likes or changes.added_dislikes
                 or changes.expectations is not None)
        ):
            try:
                await self.profiles.amerge(owner, saved.profile)
            except Exception as exc:  # the turn is saved; the durable profile catches up later
                log.warning("profile merge for %s failed: %s", owner, exc)

    def _remember_plan(self, session_id: str, message: str,
                       calls: list[dict[str, Any]]) -> None:
        """(request, plan) of the session's last turn, for learning demonstrations (bounded)."""
        self._plans[session_id] = (
            message, [c for c in calls if isinstance(c.get("args"), dict)])
        self._plans.move_to_end(session_id)
        while len(self._plans) > REMEMBERED_PLANS:
            self._plans.popitem(last=False)

    async def _save(self, session: Session, apply: Any, owner: str | None) -> Session:
        current = session.fork()
        for attempt in range(SAVE_ATTEMPTS):
            apply(current)
            try:
                return await self.sessions.save(current)
            except VersionConflict:
                if attempt == SAVE_ATTEMPTS - 1:
                    break
                fresh = await self.sessions.get(session.id, user_id=owner)
                current = fresh if fresh is not None else Session(id=session.id, user_id=owner)
            except SessionAccessDenied as exc:
                raise AgentError("forbidden", str(exc), 403) from None
            except SessionError as exc:
                raise AgentError("unavailable", str(exc), 503) from None
        raise AgentError("conflict", "the session was changed by another request; retry", 409)


def recommendations_of(result: TurnResult) -> Sequence[str]:
    return [r.item_id for r in result.recommendations]
