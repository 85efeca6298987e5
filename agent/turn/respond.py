"""The respond step: the reply to the turn's best outcome -- the template reply, or the LLM's
(streamed as deltas, capped) when a model writes replies -- checked so that it names no
catalog item it did not recommend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk

from agent.executor import Execution
from agent.llm import backend_name, is_rules
from agent.reply_check import check_reply
from agent.reply_prompt import Observation, observe, reply_messages, substitution_note
from agent.responder import describe_request, join_words, template_reply
from agent.trace import Fallback, LLMCall, TurnTrace
from agent.turn.plan import usage
from agent.turn.state import MAX_REPLY_CHARS, Collaborators, Draft, Outcome, Reply
from agent.types import Recommendation, TurnEvent
from agent.understanding.policy import social_reply
from memory.session import Session
from tools.context import ToolContext

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth")


def item_answers(kit: Collaborators, session: Session, execution: Execution
                 ) -> tuple[list[Any], list[str]]:
    """An answer about items: the facts item_info found, the "why" sentences of explain."""
    info: list[Any] = []
    why: list[str] = []
    for out in execution.outputs:
        if out.tool == "item_info":
            info.extend(out.data.get("items", []))
        elif out.tool == "explain":
            why.extend(why_picked(kit.catalog.label(i), card_of(session, i),
                                  str(out.data.get("reasons", {}).get(i) or ""),
                                  str(out.data.get("facts", {}).get(i) or ""))
                       for i in out.items)
    return info, why


def card_of(session: Session, item_id: str) -> tuple[int, str]:
    """Where the item stood on the latest list that showed it (1-based; 0: on none) and
    the reason its card gave there."""
    for msg in reversed(session.messages):
        if msg.role == "assistant" and item_id in msg.recommendations:
            k = msg.recommendations.index(item_id)
            return k + 1, msg.reasons[k] if k < len(msg.reasons) else ""
    return 0, ""


def why_picked(label: str, card: tuple[int, str], reason: str, facts: str) -> str:
    """Why an item was picked, in one or two sentences: the reason its card gave (which of
    the applied conditions it met, what ordered it), then what the explain tool found
    (categories shared with liked items, liked items close to it). An item that was on no
    list and that nothing liked points to gets its facts, said to be facts."""
    place, said = card
    found = reason.split("; ") if reason else []
    also = "it " + join_words(found) if found else ""
    if place:
        where = _ORDINALS[place - 1] if place <= len(_ORDINALS) else f"number {place}"
        text = f"{label} was {where} on my list" + (
            f": {said[:1].lower() + said[1:]}." if said else ".")
        return text + (f" Also, {also}." if also else "")
    if also:
        return f"{label} is not among my picks here, but {also}."
    return (f"{label} was not on my list, and nothing you liked or named points to it"
            + (f" ({facts})." if facts else "."))


def draft(
    kit: Collaborators, session: Session, best: Outcome, model: BaseChatModel,
    recs: list[Recommendation], info_plan: bool,
) -> Draft:
    """What the reply is built from: the template reply, the observation for the reply
    writer, and the clarifying text that replaces a written reply."""
    ctx = best.ctx
    info, why = item_answers(kit, session, best.execution) if info_plan else ([], [])
    about = describe_request(ctx.notes.filters, [])
    # what the plan found, for the reply writer (and a substitution for the template)
    observation = observe(
        best.execution.outputs, best.attempt.tools, -1 if info_plan else len(recs),
        relaxed=best.relaxed,
        unmet=[p for c, p in zip(best.critique.codes, best.critique.problems, strict=False)
               if c not in ("unresolved", "repeat")])
    clarify = note = ""
    if not best.attempt.calls:
        clarify = best.content or social_reply(bool(session.shown), kit.words)
    else:
        note = " ".join(n for n in (substitution_note(observation),
                                    best.content if is_rules(model) else "") if n)
    if why and not clarify:
        clarify = " ".join(why)
    unapplied, broken = unmet_conditions(best, kit.words.noun)
    template = template_reply(
        # a list with an item that breaks a condition is not described by the conditions
        recs, about="" if broken else about, filters=[] if broken else ctx.notes.filters,
        words=kit.words, info=info, clarify=clarify, unresolved=ctx.notes.unresolved,
        note=" ".join(n for n in (note, unapplied, broken, pushed_down(ctx)) if n),
    )
    return Draft(template, about, observation, clarify)


def unmet_conditions(best: Outcome, noun: str) -> tuple[str, str]:
    """The sentences saying that the list does not meet every condition the plan asked
    for: a filter no item passed (the candidates stayed as they were: the applied ones
    still hold), else an item that breaks a condition (reflection could not fix it);
    "" for what did not happen."""
    filtered = sum(1 for c in best.attempt.calls if c.get("name") == "filter_items")
    if filtered > len(best.ctx.notes.filters):
        return (f"No {noun} in the catalog meets all of the conditions together, so not "
                "all of them are applied."), ""
    for code, problem in zip(best.critique.codes, best.critique.problems, strict=False):
        if code == "violated":
            return "", f"Not every one meets every condition: {problem.partition(': ')[2]}."
    return "", ""


def pushed_down(ctx: ToolContext) -> str:
    """The sentence saying what a soft "not ..." did: matches moved down, not removed."""
    avoided = [e.detail.removeprefix("less ") for e in ctx.bus.log
               if e.tool == "search_text" and e.detail.startswith("less ")]
    if not avoided:
        return ""
    return (f"Anything mentioning “{avoided[-1]}” is only moved down the list, not left out "
            "(the catalog has no such condition).")


def unrecommended_names(
    kit: Collaborators, reply: str, session: Session, ctx: ToolContext,
    recs: list[Recommendation], observation: Observation,
) -> list[str]:
    """The items a written reply names that it may not (not among the cards)."""
    suspects = [kit.catalog.label(i) for i in ctx.bus.slice(len(recs), len(recs) + 30)]
    suspects += list(kit.catalog.titles(
        session.shown[-50:] + session.profile.liked[-20:] + session.profile.disliked[-20:]
    ).values())
    return check_reply(reply, recs, suspects=suspects, vocabulary=kit.vocabulary,
                       allowed=observation.looked_up_titles)


async def respond(
    kit: Collaborators, message: str, session: Session, best: Outcome, model: BaseChatModel,
    recs: list[Recommendation], draft: Draft, instructions: str, trace: TurnTrace,
    reply: Reply,
) -> AsyncIterator[TurnEvent]:
    """The reply as ``delta`` events; its final text goes into ``reply``. A reply that is
    not about cards, or an offline turn's, is the template."""
    reply.text = draft.template
    t0 = time.perf_counter()
    if not is_rules(model) and not draft.clarify:
        async for event in write_reply(
            kit, message, session, best, model, recs, draft, instructions, trace, reply
        ):
            yield event
    else:
        yield TurnEvent(type="delta", data={"text": reply.text})
    trace.add_time("respond", t0)


async def _stream_reply(
    kit: Collaborators, message: str, best: Outcome, model: BaseChatModel,
    recs: list[Recommendation], draft: Draft, instructions: str, trace: TurnTrace,
    streamed: list[str], tokens: list[int],
) -> AsyncIterator[TurnEvent]:
    """The model's reply as deltas into ``streamed``, cut at :data:`MAX_REPLY_CHARS`; the
    tokens it reported into ``tokens``."""
    async with asyncio.timeout(kit.settings.llm_timeout_s):
        info_text = "\n".join(o.text for o in best.execution.outputs if o.tool == "item_info")
        async for chunk in model.astream(reply_messages(
                message, recs, draft.about, info_text, instructions, draft.observation)):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if isinstance(chunk, AIMessageChunk) and chunk.usage_metadata:
                tokens[:] = usage(chunk)
            if text:
                room = MAX_REPLY_CHARS - sum(len(t) for t in streamed)
                if room <= 0:
                    trace.fallbacks.append(Fallback(
                        "respond", f"reply cut at {MAX_REPLY_CHARS} characters", "truncated"))
                    break  # a runaway model: the reply stops here
                text = text[:room]
                streamed.append(text)
                yield TurnEvent(type="delta", data={"text": text})


async def write_reply(
    kit: Collaborators, message: str, session: Session, best: Outcome, model: BaseChatModel,
    recs: list[Recommendation], draft: Draft, instructions: str, trace: TurnTrace,
    reply: Reply,
) -> AsyncIterator[TurnEvent]:
    """The LLM writes the reply (streamed as deltas, capped); on failure, or when it names
    items not recommended, the template replaces it. The final text goes into ``reply``."""
    template = draft.template
    streamed: list[str] = []
    tokens = [0, 0]  # input, output: as the model reports them
    llm_start = time.perf_counter()
    try:
        async for event in _stream_reply(kit, message, best, model, recs, draft, instructions,
                                         trace, streamed, tokens):
            yield event
        ms = (time.perf_counter() - llm_start) * 1e3
        trace.llm_calls.append(LLMCall("respond", backend_name(model), ms, tokens[0], tokens[1]))
        reply.text = "".join(streamed).strip() or template
    except Exception as exc:
        trace.llm_calls.append(LLMCall("respond", backend_name(model),
                                       (time.perf_counter() - llm_start) * 1e3,
                                       error=f"{type(exc).__name__}"))
        trace.fallbacks.append(
            Fallback("respond", f"{type(exc).__name__}: {str(exc)[:200]}", "template"))
        reply.text = template
        if streamed:
            yield TurnEvent(type="delta", data={"text": reply.text, "replace": True})
            streamed = []
    if streamed or reply.text != template:
        bad = unrecommended_names(kit, reply.text, session, best.ctx, recs, draft.observation)
        if bad:
            trace.fallbacks.append(Fallback(
                "reply-check", "reply named items not recommended: " + ", ".join(bad[:3]),
                "template"))
            reply.text = template
            yield TurnEvent(type="delta", data={"text": reply.text, "replace": True})
