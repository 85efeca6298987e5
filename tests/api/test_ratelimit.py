"""Per-client token bucket: 429 with Retry-After; health and metrics are not limited."""

from __future__ import annotations

from collections.abc import Callable

from api.app import create_app
from api.ratelimit import TokenBuckets
from recagent.runtime import Runtime
from recagent.settings import Settings
from tests.api.support import asgi_client


def test_bucket_refills_continuously_and_is_per_client() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])  # 1 token per second, burst 60
    assert all(buckets.take("a") == 0.0 for _ in range(60))
    wait = buckets.take("a")
    assert 0.99 <= wait <= 1.0
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert 0.49 <= buckets.take("a") <= 0.51
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_bucket_table_is_bounded() -> None:
    buckets = TokenBuckets(10, max_clients=3)
    for client in "abcde":
        buckets.take(client)
    assert list(buckets._buckets) == ["c", "d", "e"]


async def test_over_the_limit_is_429_with_retry_after(
    make_settings: Callable[..., Settings], shared_runtime: Runtime,
) -> None:
    app = create_app(make_settings(rate_limit_per_minute=3), runtime=shared_runtime)
    async with asgi_client(app) as client:
        codes = [(await client.get("/v1/items", params={"q": "heat"})).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 200]
        r = await client.post("/v1/chat", json={"message": "a comedy"})
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert r.headers["x-request-id"]
        # operations endpoints stay reachable for probes and scrapers
        assert (await client.get("/healthz")).status_code == 200
        metrics = await client.get("/metrics")
        assert 'recagent_errors_total{code="rate_limited"} 1.0' in metrics.text


async def test_zero_disables_the_limit(
    make_settings: Callable[..., Settings], shared_runtime: Runtime,
) -> None:
    app = create_app(make_settings(rate_limit_per_minute=0), runtime=shared_runtime)
    async with asgi_client(app) as client:
        for _ in range(30):
            assert (await client.get("/v1/tools")).status_code == 200
