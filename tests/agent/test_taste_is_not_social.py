"""A message that states a taste in titles, or asks a question, is something to go on — not a
greeting or a goodbye — unless it thanks or says goodbye (the act model's OTH/STO/END)."""

from __future__ import annotations

from agent.service import Agent
from tests.agent.conftest import AgentFactory


async def _reply(agent: Agent, *messages: str) -> tuple[str, list[str]]:
    sid = None
    result = None
    for message in messages:
        result = await agent.turn(message, session_id=sid)
        sid = result.session_id
    assert result is not None
    return result.reply, [r.title for r in result.recommendations]


async def test_liked_and_disliked_titles_with_a_question_get_a_list(
        make_agent: AgentFactory) -> None:
    agent = await make_agent()
    reply, titles = await _reply(
        agent, "Really loved Toy Story and Aladdin, but I hated Scream. So what should I "
               "watch tonight?")
    assert len(titles) == 10, reply
    assert not {"Toy Story", "Aladdin", "Scream"} & {t.split(" (")[0] for t in titles}


async def test_a_bare_question_for_items_is_not_a_greeting(make_agent: AgentFactory) -> None:
    agent = await make_agent()
    greeting, _ = await _reply(agent, "hello!")
    reply, titles = await _reply(agent, "so what do you think I should see?")
    assert reply != greeting


async def test_thanks_naming_a_title_still_closes(make_agent: AgentFactory) -> None:
    agent = await make_agent()
    reply, titles = await _reply(agent, "some westerns please",
                                 "thanks a lot, I'll give Unforgiven a go")
    assert titles == [], reply
