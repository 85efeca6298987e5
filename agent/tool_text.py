"""Tool calls that models write as text instead of native tool calls.

Small local models (Qwen, Hermes, Llama under Ollama / vLLM / llama.cpp) often put the call in
the message content: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` tags, a
fenced ```json block, a bare JSON object or list, or ``{"tool_calls": [...]}``. These are
read back into LangChain tool calls; what only *looks* like a plan (JSON that is not one)
is reported so the caller can repair it or fall back, never shown to the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCED = re.compile(r"```(?:json|tool_call|tool)?\s*(.*?)```", re.S)
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_ARG_KEYS = ("arguments", "args", "parameters", "input")


class NotAPlan(ValueError):
    """Text that looks like a plan (tags, JSON) but is not a valid one."""


def looks_like_plan(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and (stripped[0] in "[{" or "<tool_call>" in stripped
                               or bool(_FENCED.search(stripped)))


def _one(obj: Any, names: Collection[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise NotAPlan(f"a tool call must be an object, not {type(obj).__name__}")
    if isinstance(obj.get("function"), dict):  # OpenAI's {"type": "function", "function": {...}}
        obj = obj["function"]
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name is None:
        raise NotAPlan("a tool call without a name")
    args: Any = next((obj[k] for k in _ARG_KEYS if k in obj), {})
    if isinstance(args, str):  # OpenAI sends arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            raise NotAPlan(f"the arguments of {name} are not JSON") from None
    if not isinstance(args, dict):
        raise NotAPlan(f"the arguments of {name} must be an object")
    if names and name not in names:
        raise NotAPlan(f"unknown tool {name!r}; tools: {', '.join(sorted(names))}")
    return {"name": name, "args": args}


def _calls(obj: Any, names: Collection[str]) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and isinstance(obj.get("tool_calls"), list):
        obj = obj["tool_calls"]
    items = obj if isinstance(obj, list) else [obj]
    return [_one(item, names) for item in items]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise NotAPlan("the plan is not valid JSON") from None


def parse_tool_calls(text: str, names: Collection[str] = ()) -> list[dict[str, Any]]:
    """The tool calls written in ``text`` as ``{"name", "args", "id", "type"}`` dicts; []
    when the text is an ordinary answer; :class:`NotAPlan` when it looks like a plan but is
    not a valid one (unknown tool, broken JSON)."""
    if not looks_like_plan(text):
        return []
    tagged = _TAGGED.findall(text)
    if tagged:
        found = [c for part in tagged for c in _calls(_json(part), names)]
    else:
        fenced = _FENCED.findall(text)
        body = fenced[0] if fenced else text.strip()
        found = _calls(_json(body), names)
    return [{"name": c["name"], "args": c["args"], "id": f"text_{k}", "type": "tool_call"}
            for k, c in enumerate(found)]
