"""Faults of the catalog database: a PostgreSQL that goes away mid-run answers 503
``catalog_unavailable`` (with Retry-After, without its address), never 500, and the service
recovers by itself when the database comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.api.support import TcpProxy, asgi_client, fresh_readiness, readiness_clock
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.postgres

REQUESTS = ["a western from the 1950s", "a musical from the 60s", "film-noir", "a 70s horror",
            "documentaries from the 2000s", "an animated comedy from the 80s"]


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_postgres_outage_is_503_and_recovers(ml_pg_url: str, store: str,
                                                   make_settings: Callable[..., Any],
                                                   redis_prefix: str) -> None:
    """Once with in-process sessions, once with the sessions in the real Redis."""
    from api.app import create_app
    from recagent.runtime import build_runtime

    real = make_url(ml_pg_url)
    proxy = await TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    if store == "redis":
        runtime = await build_runtime(make_settings(database_url=url, redis_url=REDIS_URL),
                                      session_prefix=redis_prefix)
    else:
        runtime = await build_runtime(make_settings(database_url=url))
    statuses: list[int] = []
    try:
        app = create_app(runtime.settings, runtime=runtime)
        clock = readiness_clock(app)
        async with asgi_client(app) as client:
            ok = await client.post("/v1/chat", json={"message": "a comedy"})
            assert ok.status_code == 200, ok.text

            await proxy.cut()  # the database goes away
            for message in REQUESTS:
                r = await client.post("/v1/chat", json={"message": message})
                statuses.append(r.status_code)
                if r.status_code == 503:
                    body = r.json()
                    assert body["error"]["code"] == "catalog_unavailable", body
                    assert r.headers["retry-after"].isdigit()
                    assert str(proxy.port) not in r.text and "postgresql" not in r.text
            ready = await fresh_readiness(client, clock)
            assert ready.status_code == 503 and not ready.json()["checks"]["database"]["ok"]
            assert str(proxy.port) not in ready.text
            assert 500 not in statuses and 503 in statuses, statuses

            await proxy.start()  # it comes back on the same address
            recovered = None  # after how many requests (no timing: the machine is shared)
            for attempt in range(1, 21):
                r = await client.post("/v1/chat", json={"message": "a thriller from the 90s"})
                if r.status_code == 200:
                    recovered = attempt
                    break
                assert r.status_code == 503, r.text
            assert recovered is not None, "did not recover"
            assert (await fresh_readiness(client, clock)).status_code == 200
            print(f"outage: {statuses}; recovered at request {recovered}")
    finally:
        await proxy.cut()
        await runtime.aclose()
        if store == "redis":
            import redis

            sync = redis.Redis.from_url(REDIS_URL)
            keys = list(sync.scan_iter(match=redis_prefix + "*"))
            if keys:
                sync.delete(*keys)
            sync.close()
