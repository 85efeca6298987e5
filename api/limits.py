"""Request-body limit, enforced while the body is read (before anything parses it).

Pure ASGI. A request declaring a larger ``Content-Length`` is refused at once; a body sent
without one (chunked) is read up to the limit and refused as soon as it passes it, so a
50 MB body costs at most ``max_bytes`` of memory and never reaches JSON parsing. Admin
routes check the admin key before a single byte of the body is read. Refusals are the usual
error envelope: 413 ``payload_too_large`` (``RECAGENT_MAX_BODY_BYTES``).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response
from recagent.settings import Settings

BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
# after a refusal, at most this much of the rest of a body is read and dropped (so the
# client can read the answer); past it the connection is closed
DRAIN_BYTES = 256 * 1024 * 1024
DRAIN_SECONDS = 10.0


class BodyLimit:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_bytes = settings.max_body_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, err: ApiError,
                      *, drain: bool = True) -> None:
        """Answer ``err`` at once, then read and drop the rest of the body (bounded in bytes
        and time, never kept) so the client, still uploading, can read the answer."""
        headers = dict(err.headers or {})
        if not drain:
            headers["connection"] = "close"
        await error_response(err.status, err.code, err.message, headers=headers)(
            scope, receive, send)
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
        if scope["path"].startswith("/v1/admin"):
            from api.routes.admin import admin_key_problem

            problem = admin_key_problem(headers, self.settings)
            if problem is not None:
                await self._refuse(scope, receive, send, problem)
                return
        too_large = ApiError(413, "payload_too_large",
                             f"the request body is larger than {self.max_bytes} bytes "
                             "(RECAGENT_MAX_BODY_BYTES)")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
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
            if size > self.max_bytes:
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
