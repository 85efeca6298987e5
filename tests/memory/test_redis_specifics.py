"""What only the Redis store has: an unreachable server, the factory's choice, raw keys."""

from __future__ import annotations

import json
import time

import pytest
import redis
from redis.typing import EncodableT

from memory.factory import make_session_store
from memory.session import Session, SessionError
from memory.store_memory import InMemorySessionStore
from memory.store_redis import RedisSessionStore
from recagent.settings import load_settings
from tests.conftest import REDIS_URL


async def test_unreachable_redis_is_a_clear_error_fast() -> None:
    store = RedisSessionStore("redis://:hunter2@127.0.0.1:1/0", socket_timeout_s=0.5)
    # fast because of the short socket timeouts and no retry back-off (speed itself is
    # measured by benchmarks, not asserted here)
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.5
    try:
        with pytest.raises(SessionError, match=r"127\.0\.0\.1:1") as info:
            await store.ping()
        assert "hunter2" not in str(info.value)  # no password in the message
        with pytest.raises(SessionError, match="read a session"):
            await store.get("some-session")  # never a silent empty session
        with pytest.raises(SessionError, match="save a session"):
            await store.save(Session())
        with pytest.raises(SessionError):
            await store.list_for_user("u1")
    finally:
        await store.aclose()


async def test_values_are_plain_json_with_a_ttl(
    redis_prefix: str, redis_admin: redis.Redis
) -> None:
    store = RedisSessionStore(REDIS_URL, prefix=redis_prefix, ttl_s=300)
    try:
        saved = await store.save(Session(user_id="alice", summary="hi"))
        raw = redis_admin.get(store.session_key(saved.id))
        assert isinstance(raw, bytes)
        data = json.loads(raw)  # JSON, not pickle
        assert data["summary"] == "hi" and data["version"] == 1
        assert 290 < redis_admin.ttl(store.session_key(saved.id)) <= 300
        assert 290 < redis_admin.ttl(store.user_key("alice")) <= 300
    finally:
        await store.aclose()


async def test_factory_picks_redis_when_configured(redis_prefix: str) -> None:
    embedded = make_session_store(load_settings(redis_url=None, session_ttl_s=60))
    assert isinstance(embedded, InMemorySessionStore) and embedded.ttl_s == 60
    await embedded.aclose()

    settings = load_settings(redis_url=REDIS_URL, session_max_bytes=8192)
    store = make_session_store(settings, prefix=redis_prefix)
    try:
        assert isinstance(store, RedisSessionStore) and store.max_bytes == 8192
        await store.ping()
    finally:
        await store.aclose()


async def test_a_key_of_the_wrong_redis_type_is_reset(
    redis_prefix: str, redis_admin: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisSessionStore(REDIS_URL, prefix=redis_prefix)
    try:
        redis_admin.hset(store.session_key("s1"), "field", "value")
        with caplog.at_level("WARNING", logger="memory"):
            assert await store.get("s1") is None
        assert "reset" in caplog.text
        assert redis_admin.exists(store.session_key("s1")) == 0
        assert (await store.save(Session(id="s1"))).version == 1
    finally:
        await store.aclose()


async def test_a_save_retried_after_a_lost_reply_is_not_a_conflict(
    redis_prefix: str, redis_admin: redis.Redis
) -> None:
    store = RedisSessionStore(REDIS_URL, prefix=redis_prefix)
    try:
        payload = Session(id="s2", version=1).model_dump_json().encode()
        args: list[EncodableT] = [0, payload, 60, "", repr(time.time()), "s2", 10]
        first = await store._save(keys=[store.session_key("s2"), ""], args=args)
        again = await store._save(keys=[store.session_key("s2"), ""], args=args)  # same bytes
        assert first[0] == again[0] == b"ok"
        other = Session(id="s2", version=1, summary="x").model_dump_json().encode()
        args[1] = other
        assert (await store._save(keys=[store.session_key("s2"), ""], args=args))[0] == b"conflict"
    finally:
        await store.aclose()
