"""Observe, then answer; one reply check on every path (issue 11). Real ``ChatOpenAI`` against
the local OpenAI-compatible stub; each test asserts what the user gets."""

from __future__ import annotations

from agent.reply_check import check_reply
from agent.types import Recommendation
from tests.agent.conftest import AgentFactory, stub_agent
from tests.openai_stub import OpenAIStub, StubReply

GODFATHER = StubReply(tool_calls=[("lookup_items", {"names": ["The Godfather Part 4"]}),
                                  ("similar_items", {"item_ids": ["$mentioned"]})])
COMEDIES = StubReply(tool_calls=[("filter_items", {"categories_all": ["Comedy"]}),
                                 ("rank_by_popularity", {"by": "popularity"})])


def _reply_prompt(stub: OpenAIStub) -> str:
    last = stub.requests[-1]
    assert last.get("stream") is True
    return "\n".join(str(m["content"]) for m in last["messages"])


async def test_the_reply_writer_sees_a_substitution_and_may_say_it(make_agent: AgentFactory,
                                                                   stub: OpenAIStub) -> None:
    said = ("There is no Part 4, so I went with The Godfather: Part II — "
            "these share its mood.")
    stub.push(GODFATHER, StubReply(content=said))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("something like The Godfather Part 4")
    assert result.reply == said  # naming the title the lookup took is allowed
    assert len(result.recommendations) == 10
    assert "Godfather: Part II" not in [r.title for r in result.recommendations]
    prompt = _reply_prompt(stub)
    assert '"The Godfather Part 4" -> Godfather: Part II' in prompt or \
        '"The Godfather Part 4" -> The Godfather: Part II' in prompt, prompt
    assert "closest match" in prompt and "Steps: similar_items" in prompt
    assert len(stub.requests) == 2  # observing costs no call


async def test_the_template_says_a_substitution_too(make_agent: AgentFactory,
                                                    stub: OpenAIStub) -> None:
    from tests.openai_stub import StubError

    stub.push(GODFATHER, StubError(500))  # the reply call fails: the template answers
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("something like The Godfather Part 4")
    assert '"The Godfather Part 4" is not in the catalog as such, so I took' in result.reply
    assert "Part II" in result.reply and result.recommendations


async def test_a_name_not_found_is_in_the_observation(make_agent: AgentFactory,
                                                      stub: OpenAIStub) -> None:
    plan = StubReply(tool_calls=[("lookup_items", {"names": ["Qwxzzy Blorft"]}),
                                 ("rank_by_popularity", {})])
    stub.push(plan, StubReply(content="I could not find that one; here are popular picks."))
    agent = await stub_agent(make_agent, stub, max_reflections=0)
    result = await agent.turn("something like Qwxzzy Blorft")
    assert result.reply == "I could not find that one; here are popular picks."
    assert '"Qwxzzy Blorft": not found in the catalog' in _reply_prompt(stub)


async def test_friday_night_is_not_a_title(make_agent: AgentFactory, stub: OpenAIStub) -> None:
    said = "Perfect for a Friday night in: light comedies everyone knows."
    stub.push(COMEDIES, StubReply(content=said))
    agent = await stub_agent(make_agent, stub)
    vocabulary = await agent.vocabulary()
    assert "friday" in vocabulary.titles  # the catalog has a film called Friday
    result = await agent.turn("comedies for tonight")
    assert result.reply == said and not result.trace["fallbacks"]


async def test_a_reply_naming_an_item_not_recommended_is_replaced(make_agent: AgentFactory,
                                                                  stub: OpenAIStub) -> None:
    stub.push(COMEDIES, StubReply(content="You will love The Shawshank Redemption."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("comedies")
    assert "Shawshank" not in result.reply and result.recommendations
    assert any(f["stage"] == "reply-check" for f in result.trace["fallbacks"])


async def test_an_answer_naming_items_without_a_plan_becomes_the_offline_plan(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    stub.push(StubReply(content="Watch Pulp Fiction and Forrest Gump, both great."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("some westerns")
    assert "Pulp Fiction" not in result.reply
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)
    assert any(f["stage"] == "plan" and f["to"] == "rules" for f in result.trace["fallbacks"])


async def test_a_greeting_takes_one_call(make_agent: AgentFactory, stub: OpenAIStub) -> None:
    stub.push(StubReply(content="Hi! What are you in the mood for tonight?"))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("hello there")
    assert result.reply == "Hi! What are you in the mood for tonight?"
    assert result.recommendations == [] and len(stub.requests) == 1


async def test_when_reflection_cannot_improve_the_writer_hears_what_was_relaxed(
        make_agent: AgentFactory, stub: OpenAIStub) -> None:
    narrow = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western", "Musical"],
                                                     "year_min": 2015}),
                                   ("rank_by_popularity", {})])
    wider = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western"]}),
                                  ("rank_by_popularity", {})])
    stub.push(narrow, wider, StubReply(content="No western musicals since 2015; westerns."))
    agent = await stub_agent(make_agent, stub, max_reflections=1)
    result = await agent.turn("western musicals from after 2015")
    assert result.reply == "No western musicals since 2015; westerns."
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)
    prompt = _reply_prompt(stub)
    assert 'Relaxed: categories_all ["Western", "Musical"] -> ["Western"]; year_min 2015 ' \
        'dropped' in prompt, prompt


def _rec(title: str) -> Recommendation:
    return Recommendation(item_id=title, title=title, score=1.0, reason="")


def test_titles_count_only_when_written_as_titles() -> None:
    suspects = ["Friday", "Heat", "Forrest Gump", "Back to the Future",
                "The Shawshank Redemption"]
    recs = [_rec("Toy Story")]
    assert check_reply("A Friday night pick: Toy Story.", recs, suspects=suspects) == []
    assert check_reply('Try "Friday" after Toy Story.', recs, suspects=suspects) == ["friday"]
    assert check_reply("Or Forrest Gump.", recs, suspects=suspects) == ["forrest gump"]
    assert check_reply("it has a back to the future feel", recs, suspects=suspects) == []
    assert check_reply("it has a Back to the Future feel", recs,
                       suspects=suspects) == ["back to the future"]
    assert check_reply("like the shawshank redemption", recs,
                       suspects=suspects) == ["shawshank redemption"]
    assert check_reply("It has heat and heart.", recs, suspects=suspects) == []
    # the title the user asked about, as the lookup resolved it, may be named
    assert check_reply("Instead of Forrest Gump, Toy Story.", recs, suspects=suspects,
                       allowed=["Forrest Gump"]) == []


async def test_fewer_items_than_asked_are_answered_without_a_replan(make_agent: AgentFactory,
                                                                   stub: OpenAIStub) -> None:
    few = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western"],
                                                  "year_min": 2015}),
                                ("rank_by_popularity", {})])
    stub.push(few, StubReply(content="Only a handful of recent westerns."))
    agent = await stub_agent(make_agent, stub)
    result = await agent.turn("westerns from 2015 on")
    n = len(result.recommendations)
    assert 0 < n < 10 and all((r.year or 0) >= 2015 for r in result.recommendations)
    assert result.reply == "Only a handful of recent westerns." and len(stub.requests) == 2
    assert f"Final: {n} items" in _reply_prompt(stub)
