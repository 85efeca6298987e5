"""Request-body limits on a real server: a huge body is refused while it is read (413,
error envelope), the server stays responsive meanwhile, and the admin key is checked
before any of the body is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.api.support import LiveServer

BIG = 50 * 1024 * 1024


class BodyWatch:
    """Wraps the app: for each path, how many bytes of its last request's body the app had
    read when it started its answer (refused "before the body is read" means 0)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read_before_answer: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        read = 0

        async def counting() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
            return message

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.read_before_answer[scope["path"]] = read
            await send(message)

        await self.app(scope, counting, watching)


@pytest.fixture(scope="module")
def body_watch(make_settings: Callable[..., Any]) -> BodyWatch:
    from api.app import create_app

    return BodyWatch(create_app(make_settings(max_body_bytes=64 * 1024,
                                              admin_api_key="s3cret-admin")))


@pytest.fixture(scope="module")
def limited_server(body_watch: BodyWatch) -> Iterator[LiveServer]:
    server = LiveServer(body_watch).start()
    yield server
    server.stop()


async def _chunks(total: int, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


async def test_declared_huge_body_is_refused_at_once(limited_server: LiveServer,
                                                     body_watch: BodyWatch) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        r = await client.post("/v1/chat", content=b"{" + b" " * BIG + b"}",
                              headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert "RECAGENT_MAX_BODY_BYTES" in r.json()["error"]["message"]
    # refused on the declared Content-Length, before a byte of the body was read
    assert body_watch.read_before_answer["/v1/chat"] == 0


async def test_chunked_body_is_cut_off_and_health_stays_responsive(
        limited_server: LiveServer) -> None:
    """A 50 MB body streamed without Content-Length is refused (413) once it passes the
    limit, and /healthz is answered meanwhile. No timing bound (the machine is shared): the
    proof is that the health answers arrive while the upload is still being sent -- a
    server busy reading or parsing the body would answer them only afterwards."""
    sent = 0
    answered_during_upload = 0

    async def upload_body() -> AsyncIterator[bytes]:
        nonlocal sent
        async for chunk in _chunks(BIG, size=256 * 1024):
            sent += len(chunk)
            yield chunk
            await asyncio.sleep(0)

    async with httpx.AsyncClient(base_url=limited_server.url, timeout=60) as client:
        upload = asyncio.create_task(client.post(
            "/v1/chat/completions", content=upload_body(),
            headers={"content-type": "application/json"}))
        while sent == 0:
            await asyncio.sleep(0.005)
        for _ in range(10):
            h = await client.get("/healthz")
            assert h.status_code == 200 and h.json() == {"status": "ok"}
            if not upload.done():
                answered_during_upload += 1
        try:
            r = await upload
            assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server answered 413 and closed before the upload finished
    assert answered_during_upload >= 1


async def test_small_bodies_still_work(limited_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        r = await client.post("/v1/chat", json={"message": "a 90s comedy"})
    assert r.status_code == 200 and r.json()["recommendations"]


async def test_admin_key_is_checked_before_the_body(limited_server: LiveServer,
                                                    body_watch: BodyWatch) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        r = await client.post("/v1/admin/reload", content=_chunks(BIG),
                              headers={"content-type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert body_watch.read_before_answer["/v1/admin/reload"] == 0
        ok = await client.post("/v1/admin/reload", json={},
                               headers={"authorization": "Bearer s3cret-admin"})
        assert ok.status_code != 401, ok.text


async def test_a_runaway_model_cannot_make_the_answer_large(
        make_settings: Callable[..., Any]) -> None:
    """A model that ignores its token cap and answers 2 MB to every call (plan and reply):
    the answer -- reply, trace, stream events -- stays small (the reply is cut by the agent,
    every string of the trace by the API)."""
    from api.app import create_app
    from api.limits import MAX_TRACE_STRING
    from recagent.runtime import build_runtime
    from tests.api.support import asgi_client
    from tests.openai_stub import OpenAIStub, StubReply

    with OpenAIStub(default=StubReply(content="blah " * 400_000)) as stub:
        settings = make_settings(llm="openai:stub-model", llm_base_url=stub.base_url,
                                 openai_api_key="sk-test", llm_max_retries=0)
        runtime = await build_runtime(settings)
        try:
            async with asgi_client(create_app(settings, runtime=runtime)) as client:
                r = await client.post("/v1/chat", json={"message": "funny 90s movies"})
                streamed = await client.post("/v1/chat/stream",
                                              json={"message": "funny 90s movies"})
        finally:
            await runtime.aclose()
    assert stub.requests, "the model was not called"
    assert r.status_code == 200, r.text[:500]
    assert len(r.content) < 100_000, len(r.content)
    assert all(len(a["content"]) <= MAX_TRACE_STRING + 40
               for a in r.json()["trace"]["attempts"])
    assert streamed.status_code == 200 and len(streamed.content) < 150_000


async def test_the_body_limit_follows_the_route_class(client: httpx.AsyncClient) -> None:
    """One message (the chat routes, feedback) may not bring a 200 KB body; a conversation
    for the OpenAI facade may (up to RECAGENT_MAX_BODY_BYTES, 1 MiB here)."""
    padding = "p" * 200_000
    r = await client.post("/v1/chat", json={"message": "a comedy", "padding": padding})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert "RECAGENT_MAX_MESSAGE_CHARS" in r.json()["error"]["message"]
    r = await client.post("/v1/sessions/abc/feedback",
                          json={"item_id": "1", "signal": "like", "padding": padding})
    assert r.status_code == 413
    # the longest message the settings allow, every character escaped, still fits
    r = await client.post("/v1/chat", content=('{"message": "' + "\\u00e9" * 500 + '"}').encode(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 1000}
               for i in range(200)]
    r = await client.post("/v1/chat/completions", json={
        "model": "recagent", "messages": [*history, {"role": "user", "content": "comedies"}]})
    assert r.status_code == 200, r.text[:300]
    r = await client.post("/v1/chat/completions", json={
        "model": "recagent", "messages": [{"role": "user", "content": "comedies"}],
        "padding": "p" * 1_100_000})
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
