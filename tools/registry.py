"""Tools, the registry, and plug-in loading.

A tool is a LangChain ``StructuredTool`` whose argument schema comes from the function's
type hints (and its Google-style docstring for argument descriptions). The runtime context
is a parameter annotated ``Ctx`` (= ``Annotated[ToolContext, InjectedToolArg]``): LangChain
leaves it out of ``tool.tool_call_schema``, the schema the model sees, and
:meth:`ToolRegistry.invoke` supplies it::

    from recagent import tool, ToolContext, ModelRetry
    from tools.registry import Ctx

    @tool
    def pick_by_mood(mood: str, ctx: Ctx) -> ToolOutput:
        \"\"\"Narrow the candidates to items that fit a mood word.\"\"\"

One registration path for built-ins and plug-ins: a module-level ``register(registry)``
calling ``registry.register(some_tool)``. Plug-ins are found under the entry-point group
``recagent.tools`` and selected by ``settings.plugins`` (``*`` all, empty none, or names).

``tool``, ``Ctx`` and ``ToolOutput`` are defined in :mod:`tools.spec` (which the built-ins
import, so they never import this module that loads them) and re-exported here.
"""

from __future__ import annotations

import copy
import importlib.metadata as importlib_metadata
import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, get_type_hints

from langchain_core.tools import BaseTool, InjectedToolArg
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ValidationError

from tools import builtin
from tools.context import ToolContext
from tools.errors import DuplicateToolError, ModelRetry, PluginError, ToolCallError
from tools.spec import Ctx, Registrar, ToolOutput, tool

if TYPE_CHECKING:
    from recagent.settings import Settings

__all__ = ["BUILTIN_ORIGIN", "ENTRY_POINT_GROUP", "Ctx", "Registrar", "ToolInfo", "ToolOutput",
           "ToolRegistry", "default_registry", "load_plugins", "tool"]

ENTRY_POINT_GROUP = "recagent.tools"
BUILTIN_ORIGIN = "builtin"


class ToolInfo(NamedTuple):
    name: str
    description: str
    schema: dict[str, Any]  # JSON schema of the arguments the model sees
    origin: str


def _injected_params(t: BaseTool) -> list[str]:
    """Names of the parameters annotated ``InjectedToolArg`` (the context)."""
    func = getattr(t, "func", None)
    if func is None:
        return []
    hints = get_type_hints(func, include_extras=True)
    out = []
    for pname, hint in hints.items():
        meta = getattr(hint, "__metadata__", ())
        if any(m is InjectedToolArg or isinstance(m, InjectedToolArg)
               or (isinstance(m, type) and issubclass(m, InjectedToolArg)) for m in meta):
            out.append(pname)
    return out


def _compact(node: Any) -> Any:
    """Drop ``{"type": "null"}`` alternatives and ``default: null`` (prompt budget)."""
    if isinstance(node, list):
        return [_compact(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _compact(v) for k, v in node.items() if not (k == "default" and v is None)}
    alts = out.get("anyOf")
    if isinstance(alts, list):
        rest = [a for a in alts if a != {"type": "null"}]
        if len(rest) == 1 and len(rest) < len(alts):
            del out["anyOf"]
            out = {**rest[0], **out}
    return out


def _openai_schema(t: BaseTool) -> dict[str, Any]:
    schema: dict[str, Any] = _compact(convert_to_openai_tool(t))
    return schema


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:6]:
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - 6
    if more > 0:
        parts.append(f"(+{more} more)")
    return "invalid arguments: " + "; ".join(parts)


@dataclass
class _Entry:
    tool: BaseTool
    origin: str
    schema_model: type[BaseModel]
    fields: frozenset[str]
    injected: list[str]


# ---- the registry ----------------------------------------------------------------------


class ToolRegistry:
    """Name -> tool (with origin). :meth:`invoke` is the one way tools are called."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._schemas: list[dict[str, Any]] | None = None  # cached; reset on register
        self._origin: str | None = None

    # registration
    @contextmanager
    def registering(self, origin: str) -> Iterator[ToolRegistry]:
        """Tools registered inside get ``origin`` unless they give their own."""
        previous, self._origin = self._origin, origin
        try:
            yield self
        finally:
            self._origin = previous

    def register(self, t: BaseTool, *, origin: str | None = None) -> BaseTool:
        """Add a tool. Fails loudly (naming both origins) if the name is taken."""
        if not isinstance(t, BaseTool):
            raise TypeError(f"register() expects a LangChain tool (use @tool), got {t!r}")
        where = origin or self._origin or "unknown"
        if t.name in self._entries:
            first = self._entries[t.name].origin
            raise DuplicateToolError(
                f"tool name {t.name!r} is registered twice: first by {first}, again by {where}"
            )
        if getattr(t, "func", None) is None:
            raise TypeError(f"tool {t.name!r} ({where}): tools must be synchronous functions")
        schema = t.tool_call_schema
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise TypeError(f"tool {t.name!r} ({where}): needs a pydantic argument schema")
        injected = _injected_params(t)
        self._entries[t.name] = _Entry(t, where, schema, frozenset(schema.model_fields), injected)
        self._schemas = None
        return t

    # reading
    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> BaseTool:
        try:
            return self._entries[name].tool
        except KeyError:
            raise KeyError(f"unknown tool {name!r}; known: {', '.join(self._entries)}") from None

    def origin(self, name: str) -> str:
        return self._entries[name].origin

    def tools(self) -> list[BaseTool]:
        """The LangChain tools (for ``chat_model.bind_tools``; the context stays hidden)."""
        return [e.tool for e in self._entries.values()]

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI function-calling schemas of every tool, as the planner sends them
        (``chat_model.bind_tools(registry.schemas())``). Compacted: an optional argument
        is shown as its type (``null`` and ``default: null`` dropped: omit it instead).

        Built once (until the next :meth:`register`) and shared: every call returns the
        same list, which callers must not change (a planner keys its caches of bound tools
        and token counts on it); :meth:`schemas_copy` gives a private one."""
        if self._schemas is None:
            self._schemas = [_openai_schema(e.tool) for e in self._entries.values()]
        return self._schemas

    def schemas_copy(self) -> list[dict[str, Any]]:
        """A deep copy of :meth:`schemas`, free to change."""
        return copy.deepcopy(self.schemas())

    def list(self) -> list[ToolInfo]:
        out = []
        for name, e in self._entries.items():
            fn = _openai_schema(e.tool)["function"]
            out.append(ToolInfo(name, fn.get("description", ""), fn.get("parameters", {}),
                                e.origin))
        return out

    # calling
    def invoke(self, name: str, args: dict[str, Any] | None, ctx: ToolContext) -> ToolOutput:
        """Validate ``args`` against the model-facing schema, inject ``ctx``, run the tool.

        Raises :class:`ToolCallError` for anything the model can fix (unknown tool, invalid
        arguments, :class:`ModelRetry` from the tool); other exceptions propagate."""
        entry = self._entries.get(name)
        if entry is None:
            raise ToolCallError(name, "unknown_tool",
                                f"unknown tool {name!r}; known tools: {', '.join(self._entries)}")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ToolCallError(name, "invalid_arguments",
                                "arguments must be a JSON object of named arguments")
        unknown = sorted(set(args) - entry.fields)
        if unknown:
            raise ToolCallError(
                name, "invalid_arguments",
                f"unknown argument(s) {', '.join(unknown)}; "
                f"expected: {', '.join(sorted(entry.fields)) or 'none'}")
        try:
            model = entry.schema_model.model_validate(args)
        except ValidationError as exc:
            raise ToolCallError(name, "invalid_arguments", _format_validation(exc)) from None
        kwargs = {f: getattr(model, f) for f in entry.fields}
        for pname in entry.injected:
            kwargs[pname] = ctx
        start = time.perf_counter()
        func = entry.tool.func  # type: ignore[attr-defined]
        try:
            result = func(**kwargs)
        except ModelRetry as exc:
            raise ToolCallError(name, "retry", exc.message) from None
        elapsed = (time.perf_counter() - start) * 1000
        if not isinstance(result, ToolOutput):
            result = ToolOutput(text=str(result))
        result.tool = name
        result.elapsed_ms = elapsed
        return result


# ---- plug-ins --------------------------------------------------------------------------


def _call_register(target: Any, registry: ToolRegistry, what: str) -> None:
    fn = target if callable(target) and not inspect.ismodule(target) else getattr(
        target, "register", None)
    if not callable(fn):
        raise PluginError(f"{what}: exposes no register(registry) function")
    fn(registry)


def load_plugins(registry: ToolRegistry, settings: Settings) -> list[str]:
    """Register the plug-ins ``settings.plugins`` selects; returns their origins.

    A name matches an entry point's name or its distribution's name. Naming a plug-in that
    is not installed, a plug-in that fails to import, or a clashing tool name all raise
    :class:`PluginError` (start-up should fail rather than serve without a tool)."""
    selected = [p for p in settings.plugins if p]
    if not selected:
        return []
    eps = sorted(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    wanted_all = "*" in selected
    found: set[str] = set()
    origins = []
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else ep.name
        keys = {ep.name, dist}
        if not wanted_all and not keys & set(selected):
            continue
        found |= keys
        origin = f"plugin:{dist}"
        try:
            target = ep.load()
        except Exception as exc:  # a broken plug-in must name itself
            raise PluginError(f"plug-in {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        with registry.registering(origin):
            _call_register(target, registry, f"plug-in {ep.name!r} ({ep.value})")
        origins.append(origin)
    missing = sorted(set(selected) - found - {"*"})
    if missing:
        installed = ", ".join(e.name for e in eps) or "none"
        raise PluginError(
            f"RECAGENT_PLUGINS names {', '.join(missing)}, not installed "
            f"(installed plug-ins: {installed})")
    return origins


def default_registry(settings: Settings) -> ToolRegistry:
    """The built-in tools plus the selected plug-ins."""
    registry = ToolRegistry()
    with registry.registering(BUILTIN_ORIGIN):
        builtin.register(registry)
    load_plugins(registry, settings)
    return registry
