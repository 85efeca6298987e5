"""The offline ``rules`` planner: a deterministic chat model that plans like an LLM would.

A thin composition of the understanding pipeline (:mod:`agent.understanding`): every user
message of the conversation is *read* (dialogue acts from the trained model, mentions
grounded against the catalog, the stance of each), the readings are folded into the
running *request* (dialogue state), and the *policy* turns the current reading and the
request into the same tool calls an LLM would send, using only the tools it was bound with.
Bounded quantities ("rated 4 or better") go to the numeric bounds of the filter tool it was
bound with, read from the tool's schema (:mod:`agent.understanding.bounds`).
It reads the ``context: {...}`` line of the system prompt (the last recommendations) and any
``critique: {...}`` of this turn (an empty result, or one that breaks a hard condition,
relaxes one criterion per critique; a short one is kept); hard conditions no catalog item
meets together are relaxed before planning. Asked to write a reply, the agent does not ask
it: the responder uses its template for this backend.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from agent.prompts import read_context, read_critiques, user_messages
from agent.tokens import usage_metadata
from agent.understanding.acts import ActsModel, ActsModelError, load_acts_model
from agent.understanding.bounds import Bound, tool_bounds
from agent.understanding.bounds import resolve as resolve_bounds
from agent.understanding.policy import Plan, Words, decide, social_reply
from agent.understanding.reader import Reader, Reading
from agent.understanding.state import Request, update
from agent.vocabulary import Vocabulary

MAX_HISTORY = 12  # user messages folded into the running request
READ_CACHE = 2048
# filter_items arguments the vocabulary can check against the catalog's category sets
CAN_MATCH_ARGS = ("categories_all", "categories_any", "categories_none", "year_min",
                  "year_max")


class RulesPlanner(BaseChatModel):
    """Deterministic, offline planner (a LangChain chat model; supports ``bind_tools``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vocabulary: Vocabulary
    acts_model: ActsModel | None = None
    words: Words = Words()
    name: str | None = "rules"
    _reader: Reader | None = PrivateAttr(default=None)
    _cache: OrderedDict[str, Reading] = PrivateAttr(default_factory=OrderedDict)
    _bounds: tuple[Sequence[dict[str, Any]], list[Bound]] | None = PrivateAttr(default=None)
    _bound: tuple[Sequence[Any], Runnable[LanguageModelInput, AIMessage]] | None = PrivateAttr(
        default=None)

    @property
    def _llm_type(self) -> str:
        return "rules"

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            if self.acts_model is None:
                try:
                    self.acts_model = load_acts_model()
                except ActsModelError:  # reads without acts: every message asks for items
                    self.acts_model = None
            # the catalog's nouns, and those the act model's dialogues used for their items
            trained = (self.acts_model.metadata.get("params", {}).get("nouns", [])
                       if self.acts_model is not None else [])
            nouns = tuple(dict.fromkeys(
                [self.words.noun, self.words.plural, "item", "items", *trained]))
            self._reader = Reader(self.vocabulary, self.acts_model, nouns)
        return self._reader

    def read(self, text: str) -> Reading:
        hit = self._cache.get(text)
        if hit is None:
            hit = self.reader.read(text)
            self._cache[text] = hit
            while len(self._cache) > READ_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return hit

    def request(self, messages: Sequence[str], last_years: Sequence[int] = ()
                ) -> tuple[Request, Reading | None]:
        """The running request after the last message, and that message's reading."""
        state = Request()
        previous: Reading | None = None
        current: Reading | None = None
        recent = list(messages)[-MAX_HISTORY:]
        for k, text in enumerate(recent):
            current = self.read(text)
            closed = previous is not None and previous.social
            state = update(state, current, closed=closed,
                           last_years=last_years if k == len(recent) - 1 else ())
            if k < len(recent) - 1:
                state = state.next_turn()
            previous = current
        return state, current

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bound once per tool list: the agent passes the registry's shared schema list
        every turn, so the same binding is reused (no conversion per turn)."""
        if kwargs:
            return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)
        cached = self._bound
        if cached is not None and cached[0] is tools:
            return cached[1]
        bound = self.bind(tools=[convert_to_openai_tool(t) for t in tools])
        self._bound = (tools, bound)
        return bound

    def decide(self, messages: Sequence[BaseMessage], tools: set[str],
               schemas: Sequence[dict[str, Any]] = ()) -> Plan:
        """The plan for ``messages`` with the ``tools`` named (``schemas``: their function
        schemas, where the filter tool's numeric bounds are read)."""
        users = user_messages(messages)
        context = read_context(messages)
        critiques = read_critiques(messages)
        codes = [set(c.get("codes") or []) for c in critiques]
        # nothing left, or hard conditions broken (a filter that matched nothing leaves the
        # candidates unchanged): either way one criterion is relaxed per critique
        relax = sum(1 for c in codes if c & {"empty", "violated"})
        # broken hard conditions: the filter matched nothing (all it matches may have been
        # shown already), so the relaxing starts with the hard conditions
        hard_first = any("violated" in c for c in codes)
        earlier = [r for r in context.get("earlier_requests") or [] if isinstance(r, str)]
        last = context.get("last_recommendations") or []
        years = [int(r["year"]) for r in last if isinstance(r.get("year"), int)]
        req, current = self.request(earlier + users, years)
        if current is None:
            return Plan(text=decide_empty(self.words))
        bounds = resolve_bounds(req.quantities, self._tool_bounds(schemas),
                                self.vocabulary.language) if req.quantities else {}
        return decide(current, req, context, tools, self.words, relax=relax,
                      can_match=self._can_match, bounds=bounds, hard_first=hard_first)

    def _tool_bounds(self, schemas: Sequence[dict[str, Any]]) -> list[Bound]:
        """The filter tool's numeric bounds (cached per schema list: the agent passes the
        same shared list every turn)."""
        cached = self._bounds
        if cached is None or cached[0] is not schemas:
            cached = self._bounds = (schemas, tool_bounds(
                schemas, self.vocabulary.language, skip=("year_min", "year_max")))
        return cached[1]

    def _can_match(self, filt: dict[str, Any]) -> bool | None:
        """Whether some catalog item meets ``filter_items`` arguments (the vocabulary's
        category sets and years; other conditions are left to the tool)."""
        return self.vocabulary.can_match(**{k: v for k, v in filt.items() if k in CAN_MATCH_ARGS})

    def plan(self, messages: Sequence[BaseMessage], tools: set[str],
             schemas: Sequence[dict[str, Any]] = ()) -> AIMessage:
        plan = self.decide(messages, tools, schemas)
        return AIMessage(
            content=plan.text,
            tool_calls=[
                {"name": name, "args": args, "id": f"rules_{k}", "type": "tool_call"}
                for k, (name, args) in enumerate(plan.calls)
            ],
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schemas = kwargs.get("tools") or []
        tools = {t["function"]["name"] for t in schemas}
        msg = self.plan(messages, tools, schemas)
        out_text = msg.content if isinstance(msg.content, str) else ""
        msg.usage_metadata = usage_metadata(
            messages, out_text + json.dumps([c["args"] for c in msg.tool_calls]))
        return ChatResult(generations=[ChatGeneration(message=msg)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """The native async path: planning is short CPU work (readings are cached per
        message), so it runs inline on the event loop instead of LangChain's default hop
        to a worker thread."""
        return self._generate(messages, stop, None, **kwargs)


def decide_empty(words: Words) -> str:
    return social_reply(False, words)
