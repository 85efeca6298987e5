"""The planner prompt: system text + context (profile, history summary, last recommendations)
+ k retrieved demonstrations, then recent history and the message.

The context is also given as one JSON line (``context: {...}``) so that the offline rules
planner reads exactly what an LLM reads. Re-plans append the previous plan, its tool results
and a critique (``critique: {...}`` JSON line) to the same conversation.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.demonstrations import Demonstration
from agent.tokens import count_message_tokens, count_tokens
from tools.builtin.lookup import VOCABULARY_LOOKUPS
from tools.spec import CATALOG_VOCABULARY

HISTORY_TURNS = 2  # recent user/assistant exchanges sent verbatim (each cut, below)
HISTORY_USER_CHARS = 400
HISTORY_REPLY_CHARS = 120  # an earlier reply: its gist (the planner needs what was asked)
TITLE_CHARS = 40  # a title in the context (the id is what the plan uses)
RESULT_CHARS = 100  # a tool result shown again in a re-plan (its first line matters)
# validation keywords the tool checks itself (an error goes back to the model): left out of
# the schema the model reads, with the defaults of omitted arguments
_MODEL_SKIPS = frozenset({"default", "minimum", "maximum", "minItems", "maxItems",
                          "minLength", "maxLength"})
MAX_CONTEXT_TITLES = 10
MAX_EARLIER_REQUESTS = 6  # the user's messages before the verbatim history, newest last
EARLIER_REQUEST_CHARS = 120
EXAMPLE_USER, EXAMPLE_ASSISTANT = "example_user", "example_assistant"  # demonstrations
CONTEXT_RE = re.compile(r"^context: (\{.*\})$", re.MULTILINE)
CRITIQUE_RE = re.compile(r"^critique: (\{.*\})$", re.MULTILINE)

SYSTEM = """You plan a recommender's work over a catalog of {domain}.
Answer with tool calls only: the turn's whole plan, in order; each call narrows or \
re-ranks what the previous left.
- Hard conditions (category, year, rating, popularity): filter_items.
- Mood or topic words: search_text. "Like X": lookup_items then similar_items.
- Personal taste: rank_for_user. "Popular"/"best": rank_by_popularity. End with a ranking.
- Item ids: from the context (rows [id, title, year]), "#2" for the 2nd of \
last_recommendations, a title looked up earlier in the plan, or "$mentioned" for all items \
lookup_items found.
- Stated likes/dislikes: update_profile. Disliked and shown items are left out.
- A question about an item: lookup_items, item_info (no ranking).
- Nothing to go on (greeting, thanks): no tool; answer in one short sentence."""


@dataclass
class PlanContext:
    """What the planner is told about the session (all small)."""

    domain: str = "items"
    # id, title, year; in the order shown ("#2" is the second)
    last_recommendations: list[dict[str, Any]] = field(default_factory=list)
    liked: list[dict[str, str]] = field(default_factory=list)  # id, title
    disliked: list[dict[str, str]] = field(default_factory=list)
    expectations: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    shown_count: int = 0
    known_user: bool = False
    count: int = 10
    earlier_requests: list[str] = field(default_factory=list)  # user messages before history

    def to_json(self) -> str:
        # item lists as rows ([id, title, year]; [id, title]): the keys once, not per item
        obj: dict[str, Any] = {"count": self.count}
        if self.last_recommendations:
            obj["last_recommendations"] = [
                [r.get("id"), _cut(str(r.get("title") or ""), TITLE_CHARS), r.get("year")]
                for r in self.last_recommendations[:MAX_CONTEXT_TITLES]]
        if self.liked:
            obj["liked"] = [[r.get("id"), r.get("title")] for r in self.liked[-MAX_CONTEXT_TITLES:]]
        if self.disliked:
            obj["disliked"] = [[r.get("id"), r.get("title")]
                               for r in self.disliked[-MAX_CONTEXT_TITLES:]]
        expectations = {k: v for k, v in self.expectations.items() if v not in (None, [], "")}
        if expectations:
            obj["expectations"] = expectations
        if self.shown_count:
            obj["already_shown"] = self.shown_count
        if self.known_user:
            obj["known_user"] = True
        if self.earlier_requests:
            obj["earlier_requests"] = [
                r[:EARLIER_REQUEST_CHARS] for r in self.earlier_requests[-MAX_EARLIER_REQUESTS:]
            ]
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def read_context(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The ``context: {...}`` JSON of a planner prompt ({} when absent)."""
    for msg in messages:
        if isinstance(msg, SystemMessage) and isinstance(msg.content, str):
            m = CONTEXT_RE.search(msg.content)
            if m:
                try:
                    data = json.loads(m.group(1))
                except ValueError:
                    return {}
                return _expand(data) if isinstance(data, dict) else {}
    return {}


_ROW_FIELDS = {"last_recommendations": ("id", "title", "year"), "liked": ("id", "title"),
               "disliked": ("id", "title")}


def _expand(data: dict[str, Any]) -> dict[str, Any]:
    """The context with its item rows as dicts again (``n`` numbering the last
    recommendations) and ``shown_count``, as the offline planner reads them."""
    for key, fields in _ROW_FIELDS.items():
        rows = data.get(key)
        if isinstance(rows, list):
            items = [dict(zip(fields, row, strict=False)) if isinstance(row, list) else row
                     for row in rows]
            if key == "last_recommendations":
                items = [{"n": k, **r} for k, r in enumerate(items, 1) if isinstance(r, dict)]
            data[key] = items
    if "already_shown" in data:
        data.setdefault("shown_count", data["already_shown"])
    return data


def read_critiques(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Every ``critique: {...}`` given so far in this turn, oldest first."""
    out = []
    for msg in messages:
        if isinstance(msg, HumanMessage) and isinstance(msg.content, str):
            for m in CRITIQUE_RE.finditer(msg.content):
                try:
                    out.append(json.loads(m.group(1)))
                except ValueError:
                    continue
    return out


def user_messages(messages: Sequence[BaseMessage]) -> list[str]:
    """The user's messages in order (history, then the current one), critiques excluded."""
    out = []
    for msg in messages:
        if (
            isinstance(msg, HumanMessage)
            and isinstance(msg.content, str)
            and msg.name != EXAMPLE_USER
            and not CRITIQUE_RE.search(msg.content)
        ):
            out.append(msg.content)
    return out


def system_prompt(context: PlanContext, demos: Sequence[Demonstration]) -> str:
    parts = [SYSTEM.format(domain=context.domain)]
    if context.summary:
        parts.append("Earlier in this conversation: " + context.summary[:600])
    parts.append("context: " + context.to_json())
    if demos:
        parts.append("Examples:\n" + "\n".join(d.render() for d in demos))
    return "\n\n".join(parts)


def unreadable_messages(content: Any, problem: str) -> list[BaseMessage]:
    """The repair request after a plan that could not be read (broken JSON, an unknown tool
    written as text): what the model sent (cut) and what is wrong with it."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return [AIMessage(_cut(text, 600)),
            HumanMessage(f"That plan could not be read: {problem}. Send the whole plan again "
                         "as tool calls.")]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def example_messages(demos: Sequence[Demonstration]) -> list[BaseMessage]:
    """The demonstrations as real example messages (OpenAI's few-shot form): the request
    (``name="example_user"``), the plan as tool calls (``name="example_assistant"``) and a
    short result per call; a demonstration without a plan is its reply."""
    out: list[BaseMessage] = []
    for k, d in enumerate(demos):
        out.append(HumanMessage(d.request, name=EXAMPLE_USER))
        if not d.plan:
            out.append(AIMessage(d.reply, name=EXAMPLE_ASSISTANT))
            continue
        calls = [{"name": n, "args": json.loads(a), "id": f"example_{k}_{j}",
                  "type": "tool_call"} for j, (n, a) in enumerate(d.plan)]
        out.append(AIMessage("", tool_calls=calls, name=EXAMPLE_ASSISTANT))
        out.extend(ToolMessage("ok", tool_call_id=c["id"]) for c in calls)
    return out


def build_messages(
    context: PlanContext,
    demos: Sequence[Demonstration],
    history: Sequence[tuple[str, str]],
    message: str,
    *,
    native_tools: bool = True,
) -> list[BaseMessage]:
    """``history`` = (role, text) of earlier messages, oldest first. The demonstrations go
    in as example tool-call messages (``native_tools``), or as text in the system prompt for
    a model that cannot call tools."""
    msgs: list[BaseMessage] = [SystemMessage(system_prompt(context, [] if native_tools
                                                           else demos))]
    if native_tools:
        msgs.extend(example_messages(demos))
    recent = list(history)[-2 * HISTORY_TURNS :]
    last_reply = max((k for k, (role, _t) in enumerate(recent) if role != "user"), default=-1)
    for k, (role, text) in enumerate(recent):
        if role == "user":
            msgs.append(HumanMessage(_cut(text, HISTORY_USER_CHARS)))
        elif k == last_reply:  # what was shown is in the context; the last reply may ask
            msgs.append(AIMessage(_cut(text, HISTORY_REPLY_CHARS)))
    msgs.append(HumanMessage(message))
    return msgs


def replan_messages(
    previous: AIMessage, results: Sequence[tuple[str, str]],
    critiques: Sequence[dict[str, Any]],
) -> list[BaseMessage]:
    """What follows a plan that needs redoing (sent after the turn's own prompt, replacing an
    earlier re-plan: the prompt stays compact): the plan, one ToolMessage per call id
    (``results`` = (call id, text), cut), the last critique in prose and one JSON line of
    codes per critique of the turn (``critiques``, oldest first)."""
    out: list[BaseMessage] = [previous]
    out.extend(ToolMessage(content=_cut(text, RESULT_CHARS), tool_call_id=call_id)
               for call_id, text in results)
    critique = critiques[-1] if critiques else {}
    problems = "; ".join(critique.get("problems", [])) or "the plan failed"
    # the last problems once, in prose; one JSON line of codes per critique of this turn
    # (the offline planner relaxes one criterion per critique)
    lines = "\n".join("critique: " + json.dumps({"codes": list(c.get("codes", []))},
                                                separators=(",", ":")) for c in critiques)
    again = ", not one tried before" if len(critiques) > 1 else ""
    out.append(HumanMessage(f"Fix the plan: {problems}. Send the whole plan again{again}."
                            f"\n{lines}"))
    return out


MAX_ENUM = 64  # a closed vocabulary up to this size goes into the schema as an enum


def catalog_schemas(tools: Sequence[dict[str, Any]], vocabularies: Mapping[str, Sequence[str]],
                    max_enum: int | None = None) -> list[dict[str, Any]]:
    """The tool schemas as the model gets them, with the catalog in them: an argument typed
    with a catalog vocabulary (``tools.spec.Category``: ``x-catalog-vocabulary`` in its
    schema) refers to the catalog's own names. A vocabulary of at most ``max_enum`` names is
    given once per prompt, as an ``enum`` in the ``$defs`` of the tool that uses it most (the
    other tools' arguments name that tool's list, so the prompt does not repeat it); a larger
    vocabulary gets a hint instead, and its lookup tool (``lookup_categories``) is offered;
    with the enum given, the lookup is left out (the tool answers an unknown name with the
    closest ones, and the executor maps a near spelling to the catalog's name). For the
    prompt budget, a
    tool's description is its first sentence, and defaults and the bounds the tool validates
    itself are left out. Returns new dicts."""
    max_enum = MAX_ENUM if max_enum is None else max_enum
    holders = _enum_holders(tools, vocabularies, max_enum)
    tools = [t for t in tools if VOCABULARY_LOOKUPS.get(_tool_name(t)) not in holders]

    def walk(node: Any, tool: str, used: set[str]) -> Any:
        if isinstance(node, list):
            return [walk(v, tool, used) for v in node]
        if not isinstance(node, dict):
            return node
        kind = node.get(CATALOG_VOCABULARY)
        names = list(vocabularies.get(kind) or []) if isinstance(kind, str) else []
        if isinstance(kind, str) and kind in holders:
            if holders[kind] == tool:
                used.add(kind)
                return {"$ref": f"#/$defs/{kind}"}
            return {"type": "string",
                    "description": f"one of the {kind} listed in {holders[kind]}"}
        out = {k: walk(v, tool, used) for k, v in node.items()
               if k != CATALOG_VOCABULARY and not (k in _MODEL_SKIPS and not isinstance(v, dict))}
        fn = out.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("description"), str):
            fn["description"] = _first_sentence(fn["description"])  # the tool's summary
        if names:
            out["description"] = (f"one of the catalog's {len(names)} {kind}, spelled as the "
                                  f"catalog does (e.g. {', '.join(names[:3])})")
        return out

    out = []
    for tool in tools:
        used: set[str] = set()
        new = walk(tool, _tool_name(tool), used)
        params = new.get("function", {}).get("parameters")
        if used and isinstance(params, dict):
            params["$defs"] = {k: {"type": "string", "enum": sorted(vocabularies[k])}
                               for k in sorted(used)}
        out.append(new)
    return out


def _tool_name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool).get("name", ""))


def _enum_holders(tools: Sequence[dict[str, Any]], vocabularies: Mapping[str, Sequence[str]],
                  max_enum: int) -> dict[str, str]:
    """{vocabulary: the tool whose schema carries its enum}: for each vocabulary small
    enough to be an enum, the tool with the most arguments typed with it (the first such
    tool on a tie)."""
    uses: dict[str, Counter[str]] = {}
    order = {_tool_name(t): k for k, t in enumerate(tools)}
    for tool, args in vocabulary_args(tools).items():
        for kind in args.values():
            uses.setdefault(kind, Counter())[tool] += 1
    return {kind: min(counts, key=lambda t: (-counts[t], order.get(t, 0)))
            for kind, counts in uses.items()
            if 0 < len(vocabularies.get(kind) or []) <= max_enum}


def vocabulary_args(tools: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """{tool: {argument: vocabulary}} for the arguments typed with a catalog vocabulary
    (``x-catalog-vocabulary`` on the argument or its items), from the registry's schemas."""
    out: dict[str, dict[str, str]] = {}
    for t in tools:
        fn = t.get("function", t)
        props = (fn.get("parameters") or {}).get("properties") or {}
        for arg, schema in props.items():
            for node in (schema, schema.get("items") or {}):
                kind = node.get(CATALOG_VOCABULARY) if isinstance(node, dict) else None
                if isinstance(kind, str):
                    out.setdefault(str(fn.get("name")), {})[arg] = kind
    return out


TEXT_TOOLS = """You cannot call tools directly here: write each call on its own line as
<tool_call>{{"name": "<tool>", "arguments": {{...}}}}</tool_call>
and nothing else. The tools (JSON schemas):
{schemas}"""


def _first_sentence(text: str) -> str:
    m = re.search(r"(?<=[.!?])\s", text)
    return text[: m.start()] if m else text


def text_tools_message(tools: Sequence[dict[str, Any]]) -> SystemMessage:
    """For a model that cannot bind tools: the schemas and the format to write calls in
    (read back by :func:`agent.tool_text.parse_tool_calls`)."""
    lines = []
    for t in tools:
        fn = t.get("function", t)
        lines.append(json.dumps({"name": fn.get("name"), "description": fn.get("description"),
                                 "parameters": fn.get("parameters", {})},
                                ensure_ascii=False, separators=(",", ":")))
    return SystemMessage(TEXT_TOOLS.format(schemas="\n".join(lines)))


def prompt_tokens(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> int:
    """Prompt size: the messages plus each tool's function (name, description, parameters)
    as compact JSON. The ``{"type": "function"}`` envelope is API framing that providers
    render away (OpenAI, for one, shows the model a typed function signature), so it is not
    counted; the JSON of the function itself is a conservative stand-in for that rendering."""
    return count_message_tokens(list(messages)) + sum(
        count_tokens(json.dumps(t.get("function", t), separators=(",", ":"))) for t in tools
    )
