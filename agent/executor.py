"""Running one plan: the tool calls in order over a fresh candidate bus, through the
registry's single :meth:`~tools.registry.ToolRegistry.invoke` path (synchronous: the agent
runs :func:`execute` in a worker thread).

Before a call runs, item references in id-list arguments are resolved (plan-first: the
model cannot know ids that ``lookup_items`` finds in the same plan): ``"$mentioned"`` is
every item looked up so far, ``"#n"`` the n-th of the last recommendations (numbered in the
context), and a title the plan looked up earlier stands for its item id.

A model-fixable failure (unknown tool, unparseable or schema-invalid arguments, a tool's
``ModelRetry``) stops the plan; the agent sends it back to the model for a bounded re-plan.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage

from agent.trace import PlanAttempt, ToolRecord
from tools.context import ToolContext
from tools.errors import ToolCallError
from tools.registry import ToolOutput, ToolRegistry

MAX_CALLS = 12  # calls of one plan that run; the rest is reported as skipped
ID_ARGS = ("item_ids", "like", "dislike", "seen")  # arguments holding item references
MENTIONED = "$mentioned"
_NTH = re.compile(r"#\d{1,3}")


@dataclass
class PlannedCall:
    id: str
    name: str
    args: dict[str, Any] | None  # None: the model's arguments did not parse
    raw: str = ""  # unparseable argument text
    error: str = ""


@dataclass
class Execution:
    outputs: list[ToolOutput] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)  # (call id, text for model)
    fixable: list[str] = field(default_factory=list)  # error texts for the model

    @property
    def ok(self) -> bool:
        return not self.fixable


def planned_calls(message: AIMessage) -> list[PlannedCall]:
    """The tool calls of a plan message, unparseable ones included (in the order sent)."""
    calls = [
        PlannedCall(str(c.get("id") or f"call_{k}"), c["name"], dict(c.get("args") or {}))
        for k, c in enumerate(message.tool_calls)
    ]
    for k, bad in enumerate(message.invalid_tool_calls):
        calls.append(
            PlannedCall(
                str(bad.get("id") or f"invalid_{k}"),
                str(bad.get("name") or ""),
                None,
                raw=str(bad.get("args") or ""),
                error="arguments are not valid JSON" if bad.get("name") else "no tool name",
            )
        )
    return calls


def _resolve_refs(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    out = dict(args)
    for key in ID_ARGS:
        value = out.get(key)
        if not isinstance(value, list):
            continue
        resolved: list[Any] = []
        for ref in value:
            if not isinstance(ref, str):
                resolved.append(ref)
            elif ref.strip() == MENTIONED:
                resolved.extend(ctx.bus.mentioned)
            elif _NTH.fullmatch(ref.strip()) and not ctx.catalog.has(ref):
                # "#2": the second of the last recommendations (the context numbers them)
                n, last = int(ref.strip()[1:]), ctx.session.last_recommendations
                resolved.append(last[n - 1] if 1 <= n <= len(last) else ref)
            elif ref in ctx.notes.resolved and not ctx.catalog.has(ref):
                resolved.append(ctx.notes.resolved[ref])
            else:
                resolved.append(ref)
        out[key] = list(dict.fromkeys(resolved))
    return out


def canonical_names(args: dict[str, Any], keys: dict[str, str],
                    resolve: Callable[[str, str], str | None]) -> dict[str, Any]:
    """``args`` with the values of vocabulary-typed arguments (``keys``: argument ->
    vocabulary) spelled as the catalog does when ``resolve(vocabulary, value)`` finds exactly
    one name ("westerns", "sci fi" -> "Western", "Sci-Fi"); the rest is left for the tool to
    accept or refuse (a refusal goes back to the model)."""
    out = dict(args)
    for key, kind in keys.items():
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [(resolve(kind, v) or v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            out[key] = resolve(kind, value) or value
    return out


def execute(
    registry: ToolRegistry, calls: list[PlannedCall], ctx: ToolContext, attempt: PlanAttempt,
    *, vocabulary_args: dict[str, dict[str, str]] | None = None,
    resolve: Callable[[str, str], str | None] | None = None,
) -> Execution:
    """Run ``calls`` in order on ``ctx`` (its bus should be fresh); record into ``attempt``.
    With ``vocabulary_args`` and ``resolve``, catalog names are spelled the catalog's way
    first (:func:`canonical_names`)."""
    result = Execution()
    stopped = False
    for k, call in enumerate(calls):
        keys = (vocabulary_args or {}).get(call.name)
        if keys and resolve is not None and call.args is not None:
            call.args = canonical_names(call.args, keys, resolve)  # as planned, then recorded
        attempt.calls.append(
            {"name": call.name, "args": call.args if call.args is not None else call.raw}
        )
        if stopped or k >= MAX_CALLS:
            why = (
                "not run: an earlier call failed"
                if stopped
                else f"not run: at most {MAX_CALLS} calls per plan"
            )
            result.results.append((call.id, why))
            continue
        before = None if ctx.bus.is_open else len(ctx.bus)
        start = time.perf_counter()
        if call.args is None:
            err = ToolCallError(
                call.name or "?", "invalid_arguments", f"{call.error}: {call.raw[:200]!r}"
            )
        else:
            err = None
            try:
                out = registry.invoke(call.name, _resolve_refs(call.args, ctx), ctx)
            except ToolCallError as exc:
                err = exc
        duration = (time.perf_counter() - start) * 1e3
        after = None if ctx.bus.is_open else len(ctx.bus)
        if err is not None:
            text = f"error ({err.kind}): {err.message}"
            attempt.tools.append(
                ToolRecord(
                    call.name,
                    call.args or {"_raw": call.raw},
                    False,
                    round(duration, 3),
                    before,
                    after,
                    "",
                    err.message,
                    True,
                )
            )
            result.results.append((call.id, text))
            result.fixable.append(f"{call.name or '?'}: {err.message}")
            stopped = True
            continue
        result.outputs.append(out)
        attempt.tools.append(
            ToolRecord(
                call.name, call.args or {}, True, round(duration, 3), before, after, out.text[:500]
            )
        )
        result.results.append((call.id, out.text[:1500]))
    return result
