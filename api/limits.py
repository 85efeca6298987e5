"""Request-body limit, enforced while the body is read (before anything parses it).

Pure ASGI. A request declaring a larger ``Content-Length`` is refused at once; a body sent
without one (chunked) is read up to the limit and refused as soon as it passes it, so a
50 MB body costs at most the limit in memory and never reaches JSON parsing. Admin routes
check the admin key before a single byte of the body is read. Refusals are the usual error
envelope: 413 ``payload_too_large``.

The limit depends on the route class (:func:`body_limit`): the OpenAI-compatible facade
carries a whole conversation, so it gets ``RECAGENT_MAX_BODY_BYTES``; the chat routes and
feedback carry one message and a few ids, so they get what the longest message can take
(``RECAGENT_MAX_MESSAGE_CHARS``, every character escaped) plus room for the fields; the
admin routes carry a few paths and names. None exceeds ``RECAGENT_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response_for
from api.identity import admin_key_problem
from recagent.settings import Settings

BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
FIELDS_BYTES = 16 * 1024  # the ids, tokens and options next to a message
ESCAPED_CHAR_BYTES = 12  # a character of the message, at worst (a JSON surrogate pair)
ADMIN_BYTES = 64 * 1024


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """The body limit of a route class and what it is made of (for the error message)."""
    ceiling = settings.max_body_bytes
    if path.startswith("/v1/admin"):
        return min(ceiling, ADMIN_BYTES), "admin routes"
    if path.startswith("/v1/chat/completions") or not path.startswith("/v1/"):
        return ceiling, "RECAGENT_MAX_BODY_BYTES"
    own = FIELDS_BYTES + ESCAPED_CHAR_BYTES * settings.max_message_chars
    return min(ceiling, own), "one message: RECAGENT_MAX_MESSAGE_CHARS"
# after a refusal, at most this much of the rest of a body is read and dropped (so the
# client can read the answer); past it the connection is closed
DRAIN_BYTES = 256 * 1024 * 1024
DRAIN_SECONDS = 10.0


class BodyLimit:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, err: ApiError,
                      *, drain: bool = True) -> None:
        """Answer ``err`` at once, then read and drop the rest of the body (bounded in bytes
        and time, never kept) so the client, still uploading, can read the answer."""
        headers = dict(err.headers or {})
        if not drain:
            headers["connection"] = "close"
        await error_response_for(scope["path"], err.status, err.code, err.message,
                                 headers=headers)(scope, receive, send)
        if not drain:
            return
        dropped = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while dropped < DRAIN_BYTES and loop.time() < deadline:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            dropped += len(message.get("body", b""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"].startswith("/v1/admin") and scope["method"] == "POST":
            # (the admin routes are POST; another method gets its 405 from the router)
            problem = admin_key_problem(headers, self.settings)
            if problem is not None:
                await self._refuse(scope, receive, send, problem)
                return
        max_bytes, basis = body_limit(scope["path"], self.settings)
        too_large = ApiError(413, "payload_too_large",
                             f"the request body is larger than {max_bytes} bytes "
                             f"(the limit of this route; {basis}; RECAGENT_MAX_BODY_BYTES)")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, receive, send, too_large,
                               drain=int(declared) <= DRAIN_BYTES)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > max_bytes:
                await self._refuse(scope, receive, send, too_large)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": buffered, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---- what a turn's answer may carry ------------------------------------------------------

MAX_TRACE_STRING = 2_000  # characters of any one string in a trace (planner text, args, ...)
MAX_TRACE_ITEMS = 100  # entries of any one list or object in a trace


def cap_trace(value: Any) -> Any:
    """``value`` (a turn's trace, or an event's data) with every string cut to
    :data:`MAX_TRACE_STRING` characters and every list/object to :data:`MAX_TRACE_ITEMS`
    entries, so a model that ignores its token cap cannot make the answer large (the reply
    itself is capped by the agent's reply writer)."""
    if isinstance(value, str):
        if len(value) <= MAX_TRACE_STRING:
            return value
        return value[:MAX_TRACE_STRING] + f"... [{len(value) - MAX_TRACE_STRING} more]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {k: cap_trace(v) for k, v in items[:MAX_TRACE_ITEMS]}
        if len(items) > MAX_TRACE_ITEMS:
            out["..."] = f"{len(items) - MAX_TRACE_ITEMS} more"
        return out
    if isinstance(value, list | tuple):
        capped = [cap_trace(v) for v in value[:MAX_TRACE_ITEMS]]
        if len(value) > MAX_TRACE_ITEMS:
            capped.append(f"... {len(value) - MAX_TRACE_ITEMS} more")
        return capped
    return value
