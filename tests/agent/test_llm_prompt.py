"""What the planner is sent (issue 11): schemas carrying the catalog, demonstrations of the
catalog's own domain without placeholders, "#n" references, the prompt budget at turn 10.
Real ``ChatOpenAI`` against the local stub; assertions on what the user gets and on the
requests the model receives."""

from __future__ import annotations

import json
import re

import pytest

from tests.agent.conftest import AgentFactory, stub_agent
from tests.openai_stub import OpenAIStub, StubReply

WESTERNS = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western"]}),
                                 ("rank_by_popularity", {"by": "popularity"})])


async def test_categories_reach_the_model_as_the_catalogs_enum(make_agent: AgentFactory,
                                                               stub: OpenAIStub) -> None:
    stub.push(WESTERNS, StubReply(content="Westerns."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("some westerns")
    assert result.recommendations
    tools = {t["function"]["name"]: t["function"] for t in stub.requests[0]["tools"]}
    params = tools["filter_items"]["parameters"]
    assert params["properties"]["categories_all"]["items"] == {"$ref": "#/$defs/categories"}
    vocabulary = await agent.vocabulary()
    enum = params["$defs"]["categories"]["enum"]
    assert enum == sorted(vocabulary.categories) and "Western" in enum
    assert "x-catalog-vocabulary" not in json.dumps(stub.requests[0]["tools"])


async def test_the_category_enum_is_sent_once_and_every_tool_maps_to_it(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    # update_profile's categories refer to filter_items' list instead of repeating it, and a
    # model's own spelling there still lands in the profile as the catalog's name
    stub.push(StubReply(tool_calls=[("update_profile", {"avoid_categories": ["horror"]}),
                                    ("filter_items", {"categories_all": ["Western"]})]),
              StubReply(content="Westerns, no horror."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("westerns, and I never want horror")
    sent = json.dumps(stub.requests[0]["tools"])
    assert sent.count('"$defs"') == 1 and sent.count('"Western"') == 1
    tools = {t["function"]["name"]: t["function"] for t in stub.requests[0]["tools"]}
    avoid = tools["update_profile"]["parameters"]["properties"]["avoid_categories"]["items"]
    assert "filter_items" in avoid["description"] and "enum" not in avoid
    session = await agent.get_session(result.session_id)
    assert session.profile.expectations.avoided_categories == ["Horror"]
    assert result.recommendations


async def test_demonstrations_are_the_catalogs_domain_without_placeholders(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    stub.push(StubReply(content="What kind of story are you after?"))
    agent = await stub_agent(make_agent, stub, demonstrations_k=20)
    await agent.turn("recommend me some history books about the war please")
    sent = stub.requests[0]["messages"]
    examples = [m for m in sent if str(m.get("name", "")).startswith("example")]
    asked = [m for m in examples if m["role"] == "user"]
    planned = [m for m in examples if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(asked) >= 3 and planned  # real example tool-call messages
    text = json.dumps(examples)
    assert not re.search(r"\bbooks?\b", text.casefold())
    assert "<" not in text and "Cooking" not in text
    assert sent[-1] == {"role": "user", "content": "recommend me some history books about the "
                                                   "war please"}
    # every example call has its result, as the API requires
    ids = {c["id"] for m in planned for c in m["tool_calls"]}
    assert ids == {m["tool_call_id"] for m in sent if m["role"] == "tool"}


async def test_the_nth_recommendation_is_a_real_reference(make_agent: AgentFactory,
                                                          stub: OpenAIStub) -> None:
    stub.push(WESTERNS, StubReply(content="Westerns."),
              StubReply(tool_calls=[("similar_items", {"item_ids": ["#2"]})]),
              StubReply(content="More like that one."))
    agent = await stub_agent(make_agent, stub)
    first = await agent.turn("some westerns")
    second = await agent.turn("more like the second one", session_id=first.session_id)
    assert second.reply == "More like that one." and len(second.recommendations) == 10
    assert [a["reason"] for a in second.trace["attempts"]] == ["initial"]
    assert first.recommendations[1].item_id not in {r.item_id for r in second.recommendations}


ASKS = [
    "some westerns please, the classic kind with long silences",
    "something like Rio Bravo but a bit more recent, from the seventies maybe",
    "no musicals, and nothing too long; I want to watch it tonight",
    "what about comedies from the 1990s that most people have heard of",
    "I loved the first one, more like that",
    "any highly rated dramas about families, not too sad please",
    "hmm, something darker, a thriller set in a big city",
    "I did not like the third one, skip anything like it",
    "a few animated ones for a family evening with kids",
    "ok last one: a popular sci-fi film with space travel",
]


async def test_the_planner_prompt_stays_under_budget_at_turn_ten(make_agent: AgentFactory,
                                                                 stub: OpenAIStub) -> None:
    agent = await stub_agent(make_agent, stub)
    session = None
    for ask in ASKS:
        stub.push(WESTERNS, StubReply(content="Here are a few westerns that fit. " * 12))
        result = await agent.turn(ask, session_id=session)
        session = result.session_id
    assert result.recommendations
    assert result.trace["prompt_tokens"][0] <= 2000, result.trace["prompt_tokens"]
    # a re-plan at turn ten (the plan left nothing) is sent compact as well
    empty = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western", "Animation"],
                                                    "year_min": 2020})])
    session = None
    for ask in [*ASKS[:9], "animated westerns from 2020 on"]:
        stub.push(*([empty] if ask.startswith("animated") else []), WESTERNS,
                  StubReply(content="Here are a few westerns that fit. " * 12))
        result = await agent.turn(ask, session_id=session)
        session = result.session_id
    assert len(result.trace["prompt_tokens"]) == 2, result.trace["prompt_tokens"]
    assert max(result.trace["prompt_tokens"]) <= 2000, result.trace["prompt_tokens"]


async def test_a_vocabulary_too_large_for_an_enum_is_looked_up(
        make_agent: AgentFactory, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> None:
    # a catalog with more categories than fit an enum: the schemas give a hint and offer
    # lookup_categories; the model looks "sci fi" up, sees the catalog's name, plans with it
    monkeypatch.setattr("agent.prompts.MAX_ENUM", 5)
    stub.push(StubReply(tool_calls=[("lookup_categories", {"words": ["sci fi"]})]),
              StubReply(tool_calls=[("filter_items", {"categories_all": ["Sci-Fi"]}),
                                    ("rank_by_popularity", {"by": "popularity"})]),
              StubReply(content="Popular science fiction."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("some popular sci fi")
    first = {t["function"]["name"]: t["function"] for t in stub.requests[0]["tools"]}
    assert "lookup_categories" in first and "$defs" not in json.dumps(first)
    found = [m["content"] for m in stub.requests[1]["messages"] if m["role"] == "tool"]
    assert found == ['"sci fi": not a category as such; the closest: Sci-Fi, Film-Noir, Crime']
    views = result.recommendations
    assert len(views) == 10 and all("Sci-Fi" in r.categories for r in views)
    assert result.reply == "Popular science fiction."


async def test_lookup_categories_is_left_out_when_the_enum_is_given(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    stub.push(WESTERNS, StubReply(content="Westerns."))
    agent = await stub_agent(make_agent, stub)
    await agent.turn("some westerns")
    assert "lookup_categories" not in {t["function"]["name"] for t in stub.requests[0]["tools"]}
    assert "lookup_categories" in agent.registry.names()
