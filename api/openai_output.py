"""The OpenAI-compatible facade's answer: a ``chat.completion``, or ``chat.completion.chunk``
Server-Sent Events ending in ``data: [DONE]``.

The content is the reply followed by a numbered markdown list of the recommendations (title,
year and the reason each fits: an OpenAI client has no cards); the structured list rides
along as the extra fields ``recommendations`` and ``session_id``. :class:`Output` applies the
request's ``stop`` sequences and token budget (``finish_reason: "length"`` when it cuts) and
adds ``usage`` (in a final chunk when ``stream_options.include_usage`` asks for it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from agent.tokens import count_tokens
from agent.types import TurnEvent
from api.errors import ApiError, classify, from_agent_event
from api.metrics import Metrics
from api.openai_conversations import Conversation
from api.openai_errors import openai_error_body
from api.openai_request import MODEL_ID, CompletionRequest, budget, stops, text_of
from api.sse import sse_event

log = logging.getLogger("recagent.api")


def truncate_tokens(text: str, limit: int) -> str:
    """The longest prefix of ``text`` with at most ``limit`` tokens."""
    if count_tokens(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def recommendations_markdown(recs: list[dict[str, Any]]) -> str:
    """The list a chat UI shows (it has no cards): ``1. Title (year) — reason``, one numbered
    line each, the card's reason after the title."""
    lines = []
    for k, rec in enumerate(recs, 1):
        title = str(rec.get("title", "")).strip()
        year = rec.get("year")
        if year and not title.endswith(f"({year})"):
            title = f"{title} ({year})"
        reason = str(rec.get("reason") or "").strip()
        lines.append(f"{k}. {title}" + (f" — {reason}" if reason else ""))
    return "\n".join(lines)


def with_list(reply: str, recs: list[dict[str, Any]]) -> str:
    """The answer's content: the reply, then the recommendations as a numbered list."""
    listing = recommendations_markdown(recs)
    if not listing:
        return reply
    return f"{reply.rstrip()}\n\n{listing}" if reply.strip() else listing


def prompt_tokens(body: CompletionRequest) -> int:
    """The request's size in tokens (``usage.prompt_tokens``)."""
    return sum(4 + count_tokens(text_of(m.content)) for m in body.messages)


def _usage(prompt: int, content: str) -> dict[str, int]:
    completion = count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


class Output:
    """Renders one answer as a completion or as chunks, applying the token budget."""

    def __init__(self, completion_id: str, created: int, model: str, budget: int | None,
                 stops: list[str], include_usage: bool, prompt_tokens: int) -> None:
        self.id = completion_id
        self.created = created
        self.model = model
        self.budget = budget
        self.stops = stops
        self.include_usage = include_usage
        self.prompt_tokens = prompt_tokens

    @classmethod
    def for_request(cls, body: CompletionRequest) -> Output:
        """The answer to ``body``: a new completion id, its model, budget, stops and usage
        (400 for more than 4 stop sequences)."""
        return cls("chatcmpl-" + uuid.uuid4().hex, int(time.time()), body.model or MODEL_ID,
                   budget(body), stops(body),
                   bool(body.stream_options and body.stream_options.include_usage),
                   prompt_tokens(body))

    def _fit(self, content: str) -> tuple[str, Literal["stop", "length"]]:
        """The content within the ``stop`` sequences (cut before the first) and the token
        budget (cut: ``length``)."""
        for stop in self.stops:
            at = content.find(stop)
            if at >= 0:
                content = content[:at]
        if self.budget is None:
            return content, "stop"
        cut = truncate_tokens(content, self.budget)
        return cut, "stop" if cut == content else "length"

    def completion(self, content: str, **extra: Any) -> dict[str, Any]:
        text, finish = self._fit(content)
        return {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": _usage(self.prompt_tokens, text),
            **extra,
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None,
              **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        if self.include_usage:
            data["usage"] = None
        return sse_event(None, data)

    def closing(self, sent: str) -> list[bytes]:
        frames = []
        if self.include_usage:
            frames.append(sse_event(None, {
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [],
                "usage": _usage(self.prompt_tokens, sent)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    async def frames_of(self, content: str) -> AsyncIterator[bytes]:
        text, finish = self._fit(content)
        yield self.chunk({"role": "assistant", "content": ""})
        if text:
            yield self.chunk({"content": text})
        yield self.chunk({}, finish)
        for frame in self.closing(text):
            yield frame

    async def turn_frames(self, events: AsyncIterator[TurnEvent], metrics: Metrics,
                          message: str, conversation: Conversation) -> AsyncIterator[bytes]:
        """The turn as chunks. The reply text is held back until the agent's reply check
        has passed: a plain OpenAI stream cannot take text back, so a reply the check
        replaces (``delta`` with ``replace: true``) is never shown half-old, half-new."""
        yield self.chunk({"role": "assistant", "content": ""})
        pending: list[str] = []
        try:
            async for event in events:
                if event.type == "delta":
                    if event.data.get("replace"):
                        pending.clear()
                    pending.append(str(event.data.get("text", event.data.get("content", ""))))
                elif event.type == "done":
                    metrics.observe_turn("openai", event.data.get("trace"))
                    recs = list(event.data.get("recommendations") or [])
                    reply = "".join(pending) or str(event.data.get("reply", ""))
                    sent, finish = self._fit(with_list(reply, recs))
                    if sent:
                        yield self.chunk({"content": sent})
                    session_id = str(event.data.get("session_id", ""))
                    await conversation.remember(message, sent, session_id)
                    yield self.chunk({}, finish, session_id=session_id, recommendations=recs)
                    break
                elif event.type == "error":
                    metrics.failed_turn("openai")
                    yield sse_event(None, _stream_error(event.data))
                    return
            else:
                return
        except Exception as exc:
            mapped = classify(exc)
            if mapped is None:
                log.exception("turn failed while streaming (openai)")
                mapped = ApiError(500, "internal_error", "internal error while answering")
            metrics.failed_turn("openai")
            metrics.errors.labels(mapped.code).inc()
            yield sse_event(None, openai_error_body(mapped.status, mapped.code,
                                                    mapped.message))
            return
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        for frame in self.closing(sent):
            yield frame


def _stream_error(data: dict[str, Any]) -> dict[str, Any]:
    mapped = from_agent_event(data)
    return openai_error_body(mapped.status, mapped.code, mapped.message)
