"""When nothing new meets every hard condition, the next plan relaxes a hard condition — not
a word of the description, which cannot make a filter match — so one re-plan suffices."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.prompts import replan_messages
from agent.rules import RulesPlanner
from tests.agent.conftest import AgentFactory

TOOLS = {"filter_items", "search_text", "similar_items", "rank_by_popularity",
         "rank_for_user", "update_profile", "lookup_items"}


def _filter(plan: AIMessage) -> dict[str, Any]:
    return next(c["args"] for c in plan.tool_calls if c["name"] == "filter_items")


async def test_a_filter_that_matched_nothing_relaxes_a_hard_condition(
        make_agent: AgentFactory) -> None:
    agent = await make_agent()
    planner = RulesPlanner(vocabulary=await agent.vocabulary())
    asked = [SystemMessage('context: {"count":10}'),
             HumanMessage("gritty crime westerns from the 1990s with a slow burn")]
    first = planner.plan(asked, TOOLS)
    wanted = _filter(first)
    assert wanted.get("categories_all") or wanted.get("categories_any")
    results = [(str(c["id"]), "filter matches no candidate; candidates unchanged")
               for c in first.tool_calls]
    again = planner.plan(asked + replan_messages(
        first, results, [{"codes": ["violated"], "problems": ["hard condition broken"]}]),
        TOOLS)
    relaxed = _filter(again) if any(c["name"] == "filter_items" for c in again.tool_calls) \
        else {}
    # a hard condition went (a category or the period), the description's words stayed
    assert relaxed != wanted
    assert (len(relaxed.get("categories_all") or []) < len(wanted.get("categories_all") or [])
            or relaxed.get("year_min") != wanted.get("year_min"))
    words = [c["args"].get("query") for c in first.tool_calls if c["name"] == "search_text"]
    kept = [c["args"].get("query") for c in again.tool_calls if c["name"] == "search_text"]
    assert words == kept


async def test_asking_again_after_every_match_was_shown_costs_one_replan(
        make_agent: AgentFactory) -> None:
    agent = await make_agent()
    first = await agent.turn("film-noir from the 1940s about a detective")
    seen = {r.item_id for r in first.recommendations}
    more = await agent.turn("more like those, film-noir detectives from the 1940s",
                            session_id=first.session_id)
    for _ in range(3):  # until every matching item has been shown
        if not more.recommendations:
            break
        seen |= {r.item_id for r in more.recommendations}
        more = await agent.turn("more", session_id=more.session_id)
    assert not {r.item_id for r in more.recommendations} & seen
    assert len(more.trace["attempts"]) <= 2
