"""The real ``ChatOpenAI`` client path against the local OpenAI-compatible stub server."""

from __future__ import annotations

from typing import Any

import pytest

from agent.llm import backend_name, make_chat_model
from agent.service import Agent
from recagent.settings import load_settings
from tests.agent.conftest import AgentFactory
from tests.openai_stub import OpenAIStub, StubError, StubGarbage, StubReply, StubSlow

PLAN = StubReply(
    tool_calls=[
        ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
        ("rank_by_popularity", {"by": "popularity"}),
    ]
)


def _llm(stub: OpenAIStub, timeout_s: float = 5.0) -> Any:
    settings = load_settings(
        llm="openai:stub-model",
        llm_base_url=stub.base_url,
        openai_api_key="sk-test",
        llm_timeout_s=timeout_s,
        llm_max_retries=0,  # retries on 429/5xx: tests/agent/test_llm_providers.py
        plugins="",
    )
    return make_chat_model(settings)


async def test_tool_calls_and_streamed_reply(make_agent: AgentFactory, stub: OpenAIStub) -> None:
    stub.push(PLAN, StubReply(content="Here are some fun 90s comedies like Forrest Gump."))
    llm = _llm(stub)
    assert backend_name(llm) == "openai:stub-model"
    agent: Agent = await make_agent(llm)
    events = [e async for e in agent.stream("funny 90s movies")]
    done = events[-1]
    assert done.type == "done", events[-1]
    recs = done.data["recommendations"]
    assert len(recs) == 10 and all("Comedy" in r["categories"] for r in recs)
    deltas = [e.data["text"] for e in events if e.type == "delta"]
    assert len(deltas) > 3 and "".join(deltas) == done.data["reply"]
    assert done.data["trace"]["llm"]["calls"] == 2
    assert done.data["trace"]["llm"]["input_tokens"] == 200  # the stub's usage, both calls
    first, second = stub.requests
    assert first["model"] == "stub-model" and len(first["tools"]) >= 9
    assert "stream" not in first or not first["stream"]
    assert second["stream"] is True and "tools" not in second
    assert stub.unexpected == 0


async def test_unparseable_arguments_go_back_to_the_model(
    make_agent: AgentFactory, stub: OpenAIStub
) -> None:
    stub.push(
        StubReply(tool_calls=[("filter_items", "{not json")]), PLAN, StubReply(content="Done.")
    )
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("90s comedies")
    assert [a["reason"] for a in result.trace["attempts"]] == ["initial", "fix"]
    assert len(result.recommendations) == 10
    tool_msgs = [m for m in stub.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_msgs and "not valid JSON" in tool_msgs[0]["content"]


@pytest.mark.parametrize(
    "failure",
    [StubError(500), StubGarbage(), StubSlow(3.0)],
    ids=["http-500", "garbage", "timeout"],
)
async def test_llm_failure_falls_back_to_rules(
    make_agent: AgentFactory, stub: OpenAIStub, failure: Any
) -> None:
    stub.push(failure)
    agent: Agent = await make_agent(
        _llm(stub, timeout_s=0.5), settings_overrides={"llm_timeout_s": 0.5}
    )
    result = await agent.turn("some comedies from the 90s, no horror")
    fallbacks = result.trace["fallbacks"]
    assert fallbacks and fallbacks[0]["stage"] == "plan" and fallbacks[0]["to"] == "rules"
    assert result.trace["llm_calls"][0]["error"]
    assert len(result.recommendations) == 10
    for rec in result.recommendations:
        assert "Comedy" in rec.categories and "Horror" not in rec.categories
        assert 1990 <= (rec.year or 0) <= 1999
    assert stub.unexpected == 0 and len(stub.requests) == 1  # the reply is the template


async def test_reply_stream_failure_falls_back_to_template(
    make_agent: AgentFactory, stub: OpenAIStub
) -> None:
    stub.push(PLAN, StubError(500))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("90s comedies")
    assert any(f["stage"] == "respond" for f in result.trace["fallbacks"])
    assert "ten comedy items from the 1990s" in result.reply.lower()


# ---- what models really return (issue 11): tool calls as text, broken plans -------------

TAGGED = ('<tool_call>{"name": "filter_items", "arguments": {"categories_all": ["Western"]}}'
          '</tool_call>\n<tool_call>{"name": "rank_by_popularity", "arguments": {}}</tool_call>')
FENCED = ('Sure, here is my plan:\n```json\n[{"name": "filter_items", "arguments": '
          '{"categories_all": ["Western"]}}, {"name": "rank_by_popularity", "arguments": {}}]\n```')
BARE = ('{"tool_calls": [{"type": "function", "function": {"name": "filter_items", '
        '"arguments": "{\\"categories_all\\": [\\"Western\\"]}"}}]}')


@pytest.mark.parametrize("content", [TAGGED, FENCED, BARE], ids=["hermes-tags", "fenced", "bare"])
async def test_tool_calls_written_as_text_are_run(make_agent: AgentFactory, stub: OpenAIStub,
                                                  content: str) -> None:
    stub.push(StubReply(content=content), StubReply(content="A few westerns for you."))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("some westerns")
    assert len(result.recommendations) == 10
    assert all("Western" in r.categories for r in result.recommendations)
    assert "{" not in result.reply and "tool_call" not in result.reply
    assert not result.trace["fallbacks"]


async def test_unreadable_plan_falls_back_to_the_offline_planner(make_agent: AgentFactory,
                                                                 stub: OpenAIStub) -> None:
    stub.push(StubReply(content='<tool_call>{"name": "filter_items", "arguments": {'),
              StubReply(content="Some westerns."))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("some westerns")
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)
    assert "tool_call" not in result.reply and "{" not in result.reply
    assert any(f["stage"] == "plan" and f["to"] == "rules" for f in result.trace["fallbacks"])


async def test_an_unreadable_plan_gets_one_repair_round(make_agent: AgentFactory,
                                                       stub: OpenAIStub) -> None:
    broken = StubReply(content='<tool_call>{"name": "filter_items", "arguments": {')
    fixed = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western"]})])
    stub.push(broken, fixed, StubReply(content="Westerns, as asked."))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("some westerns")
    assert result.reply == "Westerns, as asked." and not result.trace["fallbacks"]
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)
    repair = stub.requests[1]["messages"][-1]["content"]
    assert "could not be read" in repair and "not valid JSON" in repair


async def test_a_model_that_keeps_planning_unknown_tools_ends_in_the_offline_plan(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    bad = StubReply(tool_calls=[("find_movies", {"genre": "western"})])
    stub.push(bad, bad, bad, StubReply(content="Some westerns."))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("some westerns")
    assert len(result.recommendations) == 10
    assert all("Western" in r.categories for r in result.recommendations)
    assert any(f["to"] == "rules" for f in result.trace["fallbacks"])


async def test_instructions_reach_the_reply_writer_not_the_planner(make_agent: AgentFactory,
                                                                   stub: OpenAIStub) -> None:
    stub.push(PLAN, StubReply(content="Voici des comédies."))
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("funny 90s movies", instructions="Always answer in French.")
    assert result.reply == "Voici des comédies." and len(result.recommendations) == 10
    plan_call, reply_call = stub.requests
    reply_system = reply_call["messages"][0]["content"]
    assert "Always answer in French." in reply_system
    assert "name" in reply_system  # the naming rule still stands before it
    assert all("Always answer in French." not in str(m.get("content"))
               for m in plan_call["messages"])


async def test_a_runaway_reply_is_cut(make_agent: AgentFactory, stub: OpenAIStub) -> None:
    from agent.service import MAX_REPLY_CHARS

    stub.push(PLAN, StubReply(content="blah " * 400_000))  # a 2 MB reply
    agent: Agent = await make_agent(_llm(stub))
    result = await agent.turn("funny 90s movies")
    assert len(result.reply) <= MAX_REPLY_CHARS and result.recommendations
    assert any(f["to"] == "truncated" for f in result.trace["fallbacks"])
    for request in stub.requests[:2]:  # the client caps what the model may generate
        assert (request.get("max_tokens") or request.get("max_completion_tokens") or 0) > 0
    assert len(str(result.trace)) < 50_000  # the trace does not repeat it
