"""The plan step: one call to the planner (the LLM, or the offline rules planner after a
failure), its written plan read back when tools came as text, one repair round for an
unreadable plan. :class:`Planner` keeps what is fixed after start-up (tool schemas, bound
tools, token counts) so a turn does not rebuild it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from agent.llm import backend_name, binds_tools, is_rules
from agent.prompts import (
    catalog_schemas,
    prompt_tokens,
    text_tools_message,
    unreadable_messages,
    vocabulary_args,
)
from agent.reply_check import check_reply
from agent.tokens import count_message_tokens
from agent.tool_text import NotAPlan, parse_tool_calls
from agent.trace import Fallback, LLMCall, PlanAttempt, Reflection, TurnTrace
from agent.turn.state import Collaborators, TurnState
from agent.vocabulary import Vocabulary
from tools.registry import ToolRegistry

MAX_FIXES = 2  # re-plans for model-fixable tool errors, per turn


def usage(msg: BaseMessage) -> tuple[int, int]:
    """(input, output) tokens a model reported for a message (0 when it did not)."""
    reported = getattr(msg, "usage_metadata", None) or {}
    return int(reported.get("input_tokens") or 0), int(reported.get("output_tokens") or 0)


class Planner:
    """Calls a planner model; caches per model and per registry state what does not change
    between turns."""

    def __init__(self, llm_timeout_s: float) -> None:
        self.llm_timeout_s = llm_timeout_s
        self.vocab_args: dict[str, dict[str, str]] = {}  # the schemas' vocabulary arguments
        self._binds: dict[int, bool] = {}
        self._schemas: tuple[tuple[str, ...], list[dict[str, Any]]] | None = None
        self._schema_tokens: tuple[list[dict[str, Any]], int] | None = None
        self._bound_tools: dict[
            int, tuple[BaseChatModel, list[dict[str, Any]], Runnable[LanguageModelInput, AIMessage]]
        ] = {}

    def schemas(self, registry: ToolRegistry, vocabulary: Vocabulary) -> list[dict[str, Any]]:
        """The registry's schemas with the catalog's vocabularies in them (enums), built
        once per registry state."""
        key = tuple(registry.names())
        if self._schemas is None or self._schemas[0] != key:
            raw = registry.schemas()
            self.vocab_args = vocabulary_args(raw)
            self._schemas = (key, catalog_schemas(raw, {"categories": vocabulary.categories}))
        return self._schemas[1]

    def binds_tools(self, model: BaseChatModel) -> bool:
        """Cached per model: does it take tool schemas natively (else: tools as text)."""
        known = self._binds.get(id(model))
        if known is None:
            known = self._binds[id(model)] = binds_tools(model)
        return known

    def prompt_tokens(self, messages: list[BaseMessage], schemas: list[dict[str, Any]]) -> int:
        """:func:`prompt_tokens`, the schemas' share counted once per schema list."""
        cached = self._schema_tokens
        if cached is None or cached[0] is not schemas:
            cached = self._schema_tokens = (schemas, prompt_tokens([], schemas))
        return count_message_tokens(list(messages)) + cached[1]

    def _bound(
        self, model: BaseChatModel, schemas: list[dict[str, Any]]
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """``model.bind_tools(schemas)``, made once per model and schema list."""
        hit = self._bound_tools.get(id(model))
        if hit is None or hit[0] is not model or hit[1] is not schemas:
            hit = self._bound_tools[id(model)] = (model, schemas, model.bind_tools(schemas))
        return hit[2]

    async def call(
        self, model: BaseChatModel, messages: list[BaseMessage],
        schemas: list[dict[str, Any]], trace: TurnTrace,
    ) -> AIMessage:
        """One planning call, timed and counted in the trace; the model's errors raised."""
        backend = backend_name(model)
        trace.prompt_tokens.append(self.prompt_tokens(messages, schemas))
        start = time.perf_counter()
        try:
            if self.binds_tools(model):
                call = self._bound(model, schemas).ainvoke(messages)
            else:  # the tools described in the prompt; the calls come back as text
                call = model.ainvoke([*messages[:1], text_tools_message(schemas), *messages[1:]])
            # the LLM timeout is for a remote model; the offline planner is local work
            msg = await (call if is_rules(model)
                         else asyncio.wait_for(call, timeout=self.llm_timeout_s))
        except Exception as exc:
            trace.llm_calls.append(LLMCall(
                "plan", backend, (time.perf_counter() - start) * 1e3,
                error=f"{type(exc).__name__}: {str(exc)[:200]}"))
            raise
        tin, tout = usage(msg)
        trace.llm_calls.append(
            LLMCall("plan", backend, (time.perf_counter() - start) * 1e3, tin, tout)
        )
        if not isinstance(msg, AIMessage):
            msg = AIMessage(content=str(getattr(msg, "content", "")))
        return msg


async def plan_round(st: TurnState, planner: Planner, kit: Collaborators) -> AIMessage | None:
    """Plan once (the offline planner if the model fails); None: an unreadable plan was
    sent back for repair, plan again."""
    try:
        ai = await planner.call(st.model, st.messages, st.schemas, st.trace)
    except Exception as exc:
        if is_rules(st.model):
            raise
        st.trace.fallbacks.append(
            Fallback("plan", f"{type(exc).__name__}: {str(exc)[:200]}", "rules")
        )
        st.model = st.rules
        st.reason = "fallback"
        ai = await planner.call(st.model, st.messages, st.schemas, st.trace)
    if not is_rules(st.model) and not ai.tool_calls and isinstance(ai.content, str):
        return await read_written_plan(st, planner, kit, ai, ai.content)
    return ai


async def read_written_plan(
    st: TurnState, planner: Planner, kit: Collaborators, ai: AIMessage, text: str
) -> AIMessage | None:
    """Tool calls written as text (Hermes/Qwen tags, bare or fenced JSON); one repair
    round for an unreadable plan (None), then the offline planner's plan."""
    try:
        written = parse_tool_calls(text, kit.registry.names())
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
        return await planner.call(st.model, st.messages, st.schemas, st.trace)
    return AIMessage(content="", tool_calls=written) if written else ai


def ungrounded_answer(st: TurnState, kit: Collaborators, attempt: PlanAttempt) -> bool:
    """A model's answer without a plan that cannot stand: any text after a repair request,
    or text naming items."""
    if is_rules(st.model):
        return False
    if st.repaired_text:
        return True
    return bool(attempt.content) and bool(
        check_reply(attempt.content, [], vocabulary=kit.vocabulary))
