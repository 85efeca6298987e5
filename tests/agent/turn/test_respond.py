"""The respond step: the template reply, or the model's (streamed, capped), replaced by the
template when it fails or names a catalog item the turn did not recommend."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from agent.testing import ScriptedChatModel, plan
from agent.turn.cards import recommendations
from agent.turn.plan import Planner
from agent.turn.respond import draft, respond
from agent.turn.state import MAX_REPLY_CHARS, Collaborators, Outcome, Reply, TurnState
from agent.types import Recommendation, TurnEvent
from tests.agent.turn.conftest import StateFactory, executed

COMEDY_90S = plan(
    ("filter_items", {"categories_all": ["Comedy"], "year_min": 1990, "year_max": 1999}),
    ("rank_by_popularity", {"by": "popularity"}),
)


async def _respond(kit: Collaborators, st: TurnState, best: Outcome, model: BaseChatModel,
                   ) -> tuple[list[TurnEvent], Reply, str, list[Recommendation]]:
    recs = recommendations(kit, best)
    d = draft(kit, st.session, best, model, recs, info_plan=False)
    reply = Reply("")
    events = [e async for e in respond(kit, st.message, st.session, best, model, recs, d, "",
                                       st.trace, reply)]
    return events, reply, d.template, recs


async def test_the_models_reply_about_the_cards_is_streamed(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=3)
    best = executed(kit, planner, st, COMEDY_90S)
    title = kit.catalog.titles(best.recs[:1])[best.recs[0]]
    model = ScriptedChatModel(script=[f"Start with {title}, a favourite."])
    events, reply, _template, _recs = await _respond(kit, st, best, model)
    assert reply.text == f"Start with {title}, a favourite."
    assert "".join(e.data["text"] for e in events) == reply.text
    assert all(e.type == "delta" and not e.data.get("replace") for e in events)
    assert [c.purpose for c in st.trace.llm_calls] == ["respond"]


async def test_a_reply_naming_an_unrecommended_item_is_replaced(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=3)
    best = executed(kit, planner, st, COMEDY_90S)
    model = ScriptedChatModel(script=["You should watch The Godfather tonight."])
    events, reply, template, recs = await _respond(kit, st, best, model)
    assert "Godfather" not in " ".join(r.title for r in recs)
    assert reply.text == template and "Godfather" not in template
    assert events[-1].data == {"text": template, "replace": True}
    assert st.trace.fallbacks[-1].stage == "reply-check"
    assert "godfather" in st.trace.fallbacks[-1].reason.lower()


async def test_a_failing_reply_model_gives_the_template(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=3)
    best = executed(kit, planner, st, COMEDY_90S)
    model = ScriptedChatModel(script=[ConnectionError("the server went away")])
    events, reply, template, _recs = await _respond(kit, st, best, model)
    assert reply.text == template and [e.data for e in events] == []
    assert st.trace.fallbacks[-1].stage == "respond"
    assert st.trace.llm_calls[-1].error == "ConnectionError"


async def test_a_runaway_reply_is_cut(make_state: StateFactory, planner: Planner,
                                      kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=3)
    best = executed(kit, planner, st, COMEDY_90S)
    model = ScriptedChatModel(script=["ha " * MAX_REPLY_CHARS])
    _events, reply, _template, _recs = await _respond(kit, st, best, model)
    assert len(reply.text) <= MAX_REPLY_CHARS and reply.text.startswith("ha ha")
    assert st.trace.fallbacks[-1].to == "truncated"


async def test_offline_turns_and_clarifying_questions_get_no_written_reply(
        make_state: StateFactory, planner: Planner, kit: Collaborators) -> None:
    st = make_state("funny 90s movies", limit=3)
    best = executed(kit, planner, st, COMEDY_90S)
    events, reply, template, recs = await _respond(kit, st, best, st.rules)
    assert reply.text == template and len(recs) == 3
    assert [e.data for e in events] == [{"text": template}]
    asking = executed(kit, planner, st, plan(content="Which decade do you like?"))
    unused = ScriptedChatModel(script=[])  # fails if it is asked to write
    events, reply, _template, _recs = await _respond(kit, st, asking, unused)
    assert "Which decade do you like?" in reply.text and unused.calls == []
