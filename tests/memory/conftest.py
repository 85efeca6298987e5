"""Session-store fixtures: every contract test runs on the in-process and the Redis store.

Time is the test's: both stores read a :class:`ManualClock`, and :func:`elapse` moves it --
for Redis, whose expiry runs on the server's clock, it also brings every key of the test's
prefix that much closer to expiring (the same thing that much real time would do)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from memory.session import SessionStore
from memory.store_memory import InMemorySessionStore
from memory.store_redis import RedisSessionStore
from tests.clock import ManualClock
from tests.conftest import REDIS_URL

StoreFactory = Callable[..., Awaitable[SessionStore]]
Elapse = Callable[[float], None]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def elapse(clock: ManualClock, redis_admin: redis.Redis, redis_prefix: str) -> Elapse:
    """``elapse(seconds)``: as if that much time passed, for both kinds of store."""

    def move(seconds: float) -> None:
        clock.advance(seconds)
        for key in redis_admin.scan_iter(match=redis_prefix + "*", count=500):
            left = int(redis_admin.pttl(key))
            if left < 0:  # no expiry (-1) or already gone (-2)
                continue
            if left <= seconds * 1000:
                redis_admin.delete(key)
            else:
                redis_admin.pexpire(key, left - int(seconds * 1000))

    return move


@pytest.fixture
def redis_admin(redis_prefix: str) -> Iterator[redis.Redis]:
    """A plain client for poking at raw keys; deletes every key of the prefix afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=redis_prefix + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["memory", "redis"])
async def make_store(
    request: pytest.FixtureRequest, redis_prefix: str, redis_admin: redis.Redis,
    clock: ManualClock,
) -> AsyncIterator[StoreFactory]:
    """``await make_store(ttl_s=..., max_bytes=...)`` -> a store of the parametrized kind,
    on the test's clock."""
    opened: list[SessionStore] = []

    async def factory(**kwargs: Any) -> SessionStore:
        store: SessionStore
        if request.param == "memory":
            store = InMemorySessionStore(clock=clock, **kwargs)
        else:
            store = RedisSessionStore(REDIS_URL, prefix=redis_prefix, clock=clock, **kwargs)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(make_store: StoreFactory) -> SessionStore:
    return await make_store()


def corrupt(store: SessionStore, redis_admin: redis.Redis, session_id: str, raw: bytes) -> None:
    """Write raw bytes where the store keeps ``session_id``."""
    if isinstance(store, RedisSessionStore):
        redis_admin.set(store.session_key(session_id), raw)
    else:
        assert isinstance(store, InMemorySessionStore)
        store.write_raw(session_id, raw)
