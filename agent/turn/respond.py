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
from agent.responder import describe_request, template_reply
from agent.trace import Fallback, LLMCall, TurnTrace
from agent.turn.plan import usage
from agent.turn.state import MAX_REPLY_CHARS, Collaborators, Draft, Outcome, Reply
from agent.types import Recommendation, TurnEvent
from agent.understanding.policy import social_reply
from memory.session import Session
from tools.context import ToolContext


def item_answers(execution: Execution) -> tuple[list[Any], list[str]]:
    """An answer about items: the facts item_info found, the texts explain wrote."""
    info: list[Any] = []
    why: list[str] = []
    for out in execution.outputs:
        if out.tool == "item_info":
            info.extend(out.data.get("items", []))
        elif out.tool == "explain" and out.text:
            why.append(out.text)
    return info, why


def draft(
    kit: Collaborators, session: Session, best: Outcome, model: BaseChatModel,
    recs: list[Recommendation], info_plan: bool,
) -> Draft:
    """What the reply is built from: the template reply, the observation for the reply
    writer, and the clarifying text that replaces a written reply."""
    ctx = best.ctx
    info, why = item_answers(best.execution) if info_plan else ([], [])
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
        clarify = "Why I picked it — " + " ".join(why)
    template = template_reply(
        recs, about=about, filters=ctx.notes.filters, words=kit.words,
        info=info, clarify=clarify, unresolved=ctx.notes.unresolved, note=note,
    )
    return Draft(template, about, observation, clarify)


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
