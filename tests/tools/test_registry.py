"""The registry: hidden context, one invocation path, model-fixable errors, origins."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from recagent.settings import load_settings
from tools.builtin import BUILTIN_NAMES
from tools.errors import DuplicateToolError, ModelRetry, PluginError, ToolCallError
from tools.registry import Ctx, ToolOutput, ToolRegistry, default_registry, load_plugins, tool

BUILTINS = ["lookup_items", "item_info", "filter_items", "search_text", "similar_items",
        "rank_for_user", "rank_by_popularity", "explain", "update_profile", "lookup_categories"]


@tool
def echo(text: str, times: int = 1, ctx: Ctx = None) -> ToolOutput:  # type: ignore[assignment]
    """Repeat text.

    Args:
        text: what to repeat.
        times: how often.
    """
    if text == "retry":
        raise ModelRetry("say something else")
    if text == "boom":
        raise RuntimeError("a bug")
    return ToolOutput(text=" ".join([text] * times), data={"ctx": ctx})


def test_builtins_have_exactly_the_contract_names(registry: ToolRegistry) -> None:
    assert sorted(BUILTIN_NAMES) == sorted(BUILTINS)
    assert [i.name for i in registry.list()] == BUILTINS
    assert {i.origin for i in registry.list()} == {"builtin"}


def test_context_is_never_in_the_schema_the_model_sees(registry: ToolRegistry) -> None:
    for t in registry.tools():
        seen, taken = t.tool_call_schema, t.get_input_schema()
        assert isinstance(seen, type) and issubclass(seen, BaseModel), t.name
        assert issubclass(taken, BaseModel), t.name
        assert "ctx" not in seen.model_fields, t.name
        assert "ctx" in taken.model_fields, t.name  # but the function takes it
    text = json.dumps(registry.schemas())
    assert '"ctx"' not in text and "ToolContext" not in text
    for info in registry.list():
        assert info.description and info.schema["type"] == "object"


def test_schemas_fit_the_planner_budget(registry: ToolRegistry) -> None:
    # planner prompt budget 2,000 tokens (issue 11) with the system prompt, demonstrations
    # and history: the schemas as the model gets them stay under 1,400 tokens, whether the
    # catalog's categories fit an enum or need the lookup tool instead
    from agent.prompts import catalog_schemas, prompt_tokens

    small = {"categories": [f"Kind {k}" for k in range(20)]}
    large = {"categories": [f"Kind {k}" for k in range(500)]}
    with_enum = catalog_schemas(registry.schemas(), small)
    with_lookup = catalog_schemas(registry.schemas(), large)
    assert "lookup_categories" not in json.dumps(with_enum)
    assert "lookup_categories" in json.dumps(with_lookup)
    assert prompt_tokens([], with_enum) < 1_400 and prompt_tokens([], with_lookup) < 1_400


def test_invoke_injects_context_and_validates() -> None:
    reg = ToolRegistry()
    reg.register(echo, origin="test")
    marker = object()
    # any object as the context: the registry hands it to the tool untouched
    out = reg.invoke("echo", {"text": "hi", "times": 2}, marker)  # type: ignore[arg-type]
    assert out.text == "hi hi" and out.data["ctx"] is marker and out.tool == "echo"
    out = reg.invoke("echo", {"text": "hi", "times": "3"}, marker)
    assert out.text == "hi hi hi"  # lax JSON-ish coercion, like the model's strings


@pytest.mark.parametrize("args, kind, words", [
    ({"times": 2}, "invalid_arguments", ["text", "required"]),
    ({"text": "x", "times": "many"}, "invalid_arguments", ["times"]),
    ({"text": "x", "ctx": 1}, "invalid_arguments", ["unknown argument", "ctx"]),
    ({"text": "retry"}, "retry", ["say something else"]),
    ("not a dict", "invalid_arguments", ["JSON object"]),
])
def test_model_fixable_errors(args: object, kind: str, words: list[str]) -> None:
    reg = ToolRegistry()
    reg.register(echo, origin="test")
    with pytest.raises(ToolCallError) as err:
        reg.invoke("echo", args, None)  # type: ignore[arg-type]
    assert err.value.kind == kind and err.value.tool == "echo"
    for w in words:
        assert w in err.value.message


def test_unknown_tool_lists_the_known_ones(registry: ToolRegistry) -> None:
    with pytest.raises(ToolCallError) as err:
        registry.invoke("recommend_stuff", {}, None)  # type: ignore[arg-type]
    assert err.value.kind == "unknown_tool"
    assert "lookup_items" in err.value.message and "update_profile" in err.value.message


def test_other_exceptions_propagate() -> None:
    reg = ToolRegistry()
    reg.register(echo, origin="test")
    with pytest.raises(RuntimeError, match="a bug"):
        reg.invoke("echo", {"text": "boom"}, None)  # type: ignore[arg-type]


def test_duplicate_name_fails_naming_both_origins() -> None:
    reg = ToolRegistry()
    reg.register(echo, origin="plugin:first")
    with reg.registering("plugin:second"), pytest.raises(DuplicateToolError) as err:
        reg.register(echo)
    assert "plugin:first" in str(err.value) and "plugin:second" in str(err.value)
    assert "echo" in str(err.value)


def test_plugin_clashing_with_a_builtin_name_fails() -> None:
    reg = default_registry(load_settings(plugins=""))
    with reg.registering("plugin:evil"), pytest.raises(DuplicateToolError, match="builtin"):
        reg.register(tool(name="lookup_items", description="clash")(lambda names: names))


def test_async_tools_are_refused() -> None:
    async def later(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="synchronous"):
        tool(later)


def test_plugin_selection_none_and_missing() -> None:
    reg = ToolRegistry()
    assert load_plugins(reg, load_settings(plugins="")) == []
    assert len(reg) == 0
    with pytest.raises(PluginError, match="no-such-plugin"):
        load_plugins(ToolRegistry(), load_settings(plugins="no-such-plugin"))
