"""Request-body limits on a real server: a huge body is refused while it is read (413,
error envelope), the server stays responsive meanwhile, and the admin key is checked
before any of the body is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.support import LiveServer

BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def limited_server(make_settings: Callable[..., Any]) -> Iterator[LiveServer]:
    from api.app import create_app

    server = LiveServer(create_app(make_settings(max_body_bytes=64 * 1024,
                                                 admin_api_key="s3cret-admin"))).start()
    yield server
    server.stop()


async def _chunks(total: int, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


async def test_declared_huge_body_is_refused_at_once(limited_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        started = time.perf_counter()
        r = await client.post("/v1/chat", content=b"{" + b" " * BIG + b"}",
                              headers={"content-type": "application/json"})
        elapsed = time.perf_counter() - started
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    assert "RECAGENT_MAX_BODY_BYTES" in r.json()["error"]["message"]
    assert elapsed < 10


async def test_chunked_body_is_cut_off_and_health_stays_fast(limited_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        upload = asyncio.create_task(client.post(
            "/v1/chat/completions", content=_chunks(BIG),
            headers={"content-type": "application/json"}))
        worst = 0.0
        for _ in range(10):
            t0 = time.perf_counter()
            h = await client.get("/healthz")
            worst = max(worst, time.perf_counter() - t0)
            assert h.status_code == 200
            await asyncio.sleep(0.02)
        try:
            r = await upload
            assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server answered 413 and closed before the upload finished
    assert worst < 0.1, f"/healthz took {worst * 1000:.0f} ms during the upload"


async def test_small_bodies_still_work(limited_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        r = await client.post("/v1/chat", json={"message": "a 90s comedy"})
    assert r.status_code == 200 and r.json()["recommendations"]


async def test_admin_key_is_checked_before_the_body(limited_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as client:
        started = time.perf_counter()
        r = await client.post("/v1/admin/reload", content=_chunks(BIG),
                              headers={"content-type": "application/json"})
        elapsed = time.perf_counter() - started
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert elapsed < 5
        ok = await client.post("/v1/admin/reload", json={},
                               headers={"authorization": "Bearer s3cret-admin"})
        assert ok.status_code != 401, ok.text
