"""Tool calls written as text by models without (reliable) native tool calling."""

from __future__ import annotations

import pytest

from agent.tool_text import NotAPlan, looks_like_plan, parse_tool_calls

NAMES = {"filter_items", "search_text"}


def test_plain_answers_are_not_plans() -> None:
    assert parse_tool_calls("Hi! What kind of book would you like?", NAMES) == []
    assert not looks_like_plan("Sure - happy to help.")


@pytest.mark.parametrize("text", [
    '<tool_call>{"name": "search_text", "arguments": {"query": "dragons"}}</tool_call>',
    '<tool_call>\n{"name": "search_text", "arguments": {"query": "dragons"}}',  # unclosed tag
    '```json\n{"name": "search_text", "args": {"query": "dragons"}}\n```',
    '{"name": "search_text", "parameters": {"query": "dragons"}}',
    '[{"type": "function", "function": {"name": "search_text", '
    '"arguments": "{\\"query\\": \\"dragons\\"}"}}]',
])
def test_the_shapes_models_write(text: str) -> None:
    calls = parse_tool_calls(text, NAMES)
    assert [(c["name"], c["args"]) for c in calls] == [("search_text", {"query": "dragons"})]
    assert all(c["type"] == "tool_call" and c["id"] for c in calls)


@pytest.mark.parametrize("text,why", [
    ('{"name": "find_books", "arguments": {}}', "unknown tool"),
    ('<tool_call>{"name": "search_text", "arguments": {"query": </tool_call>', "not valid JSON"),
    ('{"arguments": {"query": "x"}}', "without a name"),
    ('{"name": "search_text", "arguments": "not json"}', "not JSON"),
])
def test_what_only_looks_like_a_plan_is_reported(text: str, why: str) -> None:
    with pytest.raises(NotAPlan, match=why):
        parse_tool_calls(text, NAMES)
