"""What a tool is written with: the ``@tool`` decorator, the ``Ctx`` annotation, the
``ToolOutput`` it returns, and the ``Registrar`` a ``register(registry)`` function receives.

A module of its own, below :mod:`tools.registry`, so the built-in tools (and plug-ins) import
it without importing the registry that loads them: the registry imports the built-ins, never
the other way round. :mod:`tools.registry` and the ``recagent`` facade re-export these names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, overload

from langchain_core.tools import BaseTool, InjectedToolArg, StructuredTool
from pydantic import Field

from tools.context import ToolContext

Ctx = Annotated[ToolContext, InjectedToolArg]
"""The annotation of a tool's injected context parameter."""

CATALOG_VOCABULARY = "x-catalog-vocabulary"
Category = Annotated[str, Field(json_schema_extra={CATALOG_VOCABULARY: "categories"})]
"""A category name of the catalog: the agent gives the model the catalog's own names as an
``enum`` when there are few enough (``agent.prompts.catalog_schemas``)."""


@dataclass
class ToolOutput:
    """What one tool call returns: ``text`` goes back to the LLM (short), the rest to the
    trace. ``items`` are the item ids the call is about (resolved, shown, ranked top)."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)
    tool: str = ""
    elapsed_ms: float = 0.0

    def to_trace(self) -> dict[str, Any]:
        return {"tool": self.tool, "text": self.text, "items": list(self.items),
                "data": self.data, "elapsed_ms": round(self.elapsed_ms, 3)}


class Registrar(Protocol):
    """What ``register(registry)`` gets: a place to add tools (:class:`ToolRegistry`)."""

    def register(self, t: BaseTool, *, origin: str | None = None) -> BaseTool: ...


# ---- the decorator ---------------------------------------------------------------------


@overload
def tool(func: Callable[..., Any], /) -> StructuredTool: ...
@overload
def tool(*, name: str | None = None,
         description: str | None = None) -> Callable[[Callable[..., Any]], StructuredTool]: ...


def tool(func: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Make a function a tool: ``@tool`` or ``@tool(name=..., description=...)``.

    The schema is built from the type hints; the docstring's first paragraph is the
    description, its ``Args:`` section the argument descriptions. The function must be
    synchronous (the executor runs tools in a worker thread)."""

    def wrap(f: Callable[..., Any]) -> StructuredTool:
        if inspect.iscoroutinefunction(f):
            raise TypeError(f"tool {f.__name__!r}: tools are synchronous functions")
        return StructuredTool.from_function(
            func=f,
            name=name or f.__name__,
            description=description,
            parse_docstring=True,
            error_on_invalid_docstring=False,
        )

    return wrap(func) if func is not None else wrap
