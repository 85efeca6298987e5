"""/healthz, /readyz (database, Redis, models) and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import redis

from api.app import create_app
from api.routes.health import READY_TTL_S
from recagent.settings import Settings
from tests.api.support import TcpProxy, asgi_client, fresh_readiness, readiness_clock
from tests.conftest import REDIS_URL

if TYPE_CHECKING:
    from recagent.runtime import Runtime


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    checks = r.json()["checks"]
    assert checks["database"]["ok"] and checks["models"]["ok"]
    assert "als" in checks["models"]["detail"]
    assert "not configured" in checks["redis"]["detail"]


async def test_readyz_without_models_is_503_naming_them(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = make_settings(model_dir=tmp_path / "empty-models")
    async with asgi_client(create_app(settings)) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["error"]["code"] == "not_ready"
        assert "models" in body["error"]["message"]
        assert not body["checks"]["models"]["ok"] and body["checks"]["database"]["ok"]


@pytest.mark.redis
async def test_readyz_reports_redis_down_by_name(
    make_settings: Callable[..., Settings], redis_prefix: str,
) -> None:
    from redis.asyncio import Redis

    target = Redis.from_url(REDIS_URL)
    host = target.connection_pool.connection_kwargs.get("host", "127.0.0.1")
    port = target.connection_pool.connection_kwargs.get("port", 6379)
    await target.aclose()
    proxy = await TcpProxy(host, port).start()
    settings = make_settings(redis_url=f"redis://127.0.0.1:{proxy.port}/0")
    from recagent.runtime import build_runtime

    runtime = await build_runtime(settings, session_prefix=redis_prefix)
    try:
        app = create_app(settings, runtime=runtime)
        clock = readiness_clock(app)
        async with asgi_client(app) as client:
            r = await client.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json()["checks"]["redis"] == {"ok": True, "detail": "ok"}
            chat = await client.post("/v1/chat", json={"message": "a comedy"})
            assert chat.status_code == 200  # the session went to Redis through the proxy

            await proxy.cut()
            assert (await client.get("/readyz")).status_code == 200  # the kept answer
            r = await fresh_readiness(client, clock)
            assert r.status_code == 503
            body = r.json()
            assert body["error"]["code"] == "not_ready"
            assert body["error"]["message"].startswith("not ready: redis:")
            assert not body["checks"]["redis"]["ok"]
            assert body["checks"]["database"]["ok"] and body["checks"]["models"]["ok"]
            assert "127.0.0.1" not in r.text and str(proxy.port) not in r.text  # no address
            r = await client.post("/v1/chat", json={"message": "a comedy"})
            assert r.status_code == 503 and r.headers["retry-after"].isdigit()
            assert r.json()["error"]["code"] == "sessions_unavailable"
            assert "127.0.0.1" not in r.text and str(proxy.port) not in r.text
    finally:
        await proxy.cut()
        await runtime.aclose()
        sync = redis.Redis.from_url(REDIS_URL)
        keys = list(sync.scan_iter(match=redis_prefix + "*"))
        if keys:
            sync.delete(*keys)
        sync.close()


async def test_metrics_count_turns_stages_tools_and_errors(client: httpx.AsyncClient) -> None:
    await client.post("/v1/chat", json={"message": "a 90s comedy"})
    await client.post("/v1/chat/stream", json={"message": "an 80s horror film"})
    await client.get("/v1/nowhere")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'recagent_turns_total{endpoint="chat",outcome="ok"} 1.0' in text
    assert 'recagent_turns_total{endpoint="stream",outcome="ok"} 1.0' in text
    for stage in ("total", "tools", "respond", "save"):
        assert f'recagent_turn_stage_seconds_count{{stage="{stage}"}} 2.0' in text
    assert 'recagent_tool_calls_total{outcome="ok",tool="filter_items"}' in text
    assert 'recagent_errors_total{code="not_found"} 1.0' in text
    assert 'recagent_http_requests_total{method="POST",route="/v1/chat",status="200"} 1.0' \
        in text
    assert "recagent_llm_fallbacks_total" in text and "recagent_llm_calls_total" in text


async def test_metrics_count_llm_calls_and_fallbacks(
    make_settings: Callable[..., Settings],
) -> None:
    from agent.testing import ScriptedChatModel
    from recagent.runtime import build_runtime

    llm = ScriptedChatModel(script=[TimeoutError("the LLM server is down")])
    runtime = await build_runtime(make_settings(), llm=llm)
    try:
        async with asgi_client(create_app(runtime.settings, runtime=runtime)) as client:
            r = await client.post("/v1/chat", json={"message": "a 90s comedy"})
            assert r.status_code == 200 and r.json()["recommendations"]
            text = (await client.get("/metrics")).text
        assert 'recagent_llm_fallbacks_total{stage="plan"} 1.0' in text
        assert 'recagent_llm_calls_total{backend="scripted",outcome="error",purpose="plan"} 1.0' \
            in text
    finally:
        await runtime.aclose()


async def test_readyz_cannot_be_used_to_hammer_the_backends(
    shared_runtime: Runtime, make_settings: Callable[..., Settings],
) -> None:
    """However many probes arrive, at once or one after another, the database is queried
    once per READY_TTL_S, and every probe gets the (same) real answer."""
    import asyncio

    from sqlalchemy import event

    queries: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.strip().upper() == "SELECT 1":
            queries.append(statement)

    engine = shared_runtime.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        app = create_app(make_settings(), runtime=shared_runtime)
        clock = readiness_clock(app)
        async with asgi_client(app) as client:
            answers = await asyncio.gather(*(client.get("/readyz") for _ in range(50)))
            answers += [await client.get("/readyz") for _ in range(50)]
            assert len(queries) == 1  # 100 probes within READY_TTL_S: one check
            clock.advance(READY_TTL_S * 0.9)
            answers.append(await client.get("/readyz"))
            assert len(queries) == 1
            clock.advance(READY_TTL_S * 0.1)
            answers += await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
            assert len(queries) == 2  # the answer aged out: one more check, shared
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {r.status_code for r in answers} == {200}
    assert all(r.json()["checks"]["database"]["ok"] for r in answers)
