"""The session-store contract, run against the in-process store and the real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
import redis

from memory.session import (
    Feedback,
    Message,
    Session,
    SessionAccessDenied,
    SessionStore,
    VersionConflict,
    update_session,
)
from memory.store_redis import RedisSessionStore
from tests.memory.conftest import Elapse, StoreFactory, corrupt


async def test_save_get_round_trip(store: SessionStore) -> None:
    session = Session(user_id="alice")
    session.messages.append(Message(role="user", content="something like Heat, 90s"))
    session.messages.append(Message(role="assistant", content="Try these", recommendations=["6"]))
    session.shown.append("6")
    session.add_feedback(Feedback(item_id="6", signal="like"))
    session.profile.expectations.year_min = 1990

    saved = await store.save(session)
    assert saved.version == 1
    assert session.version == 0  # the caller's copy is not touched

    loaded = await store.get(session.id, user_id="alice")
    assert loaded is not None
    assert loaded == saved
    assert [m.content for m in loaded.messages] == ["something like Heat, 90s", "Try these"]
    assert loaded.last_recommendations == ["6"]
    assert loaded.profile.liked == ["6"]
    assert loaded.profile.expectations.year_min == 1990
    assert await store.get("no-such-session") is None


async def test_stale_save_is_a_version_conflict(store: SessionStore) -> None:
    first = await store.save(Session())
    a = await store.get(first.id)
    b = await store.get(first.id)
    assert a is not None and b is not None
    a.summary = "writer a"
    b.summary = "writer b"
    await store.save(a)
    with pytest.raises(VersionConflict):
        await store.save(b)
    with pytest.raises(VersionConflict):  # a brand-new copy under an existing id
        await store.save(Session(id=first.id))
    current = await store.get(first.id)
    assert current is not None and current.summary == "writer a" and current.version == 2


async def test_fifty_concurrent_writers_lose_no_update(store: SessionStore) -> None:
    session = await store.save(Session(user_id="u1"))

    async def writer(n: int) -> int:
        for attempt in range(500):
            current = await store.get(session.id, user_id="u1")
            assert current is not None
            await asyncio.sleep(0)  # let the others read the same version
            current.messages.append(Message(role="user", content=f"message {n}"))
            try:
                await store.save(current)
                return attempt
            except VersionConflict:
                await asyncio.sleep(0.001 * (n % 7))
        raise AssertionError(f"writer {n} never got through")

    attempts = await asyncio.gather(*(writer(n) for n in range(50)))
    final = await store.get(session.id, user_id="u1")
    assert final is not None
    assert sorted(m.content for m in final.messages) == sorted(f"message {n}" for n in range(50))
    assert final.version == 51
    assert max(attempts) > 0  # the writers really did race


async def test_update_session_helper_retries(store: SessionStore) -> None:
    session = await store.save(Session())

    def show(n: int) -> Callable[[Session], None]:
        return lambda s: s.shown.append(str(n))

    await asyncio.gather(
        *(update_session(store, session.id, show(n), attempts=60) for n in range(20))
    )
    final = await store.get(session.id)
    assert final is not None and sorted(final.shown, key=int) == [str(n) for n in range(20)]


async def test_ttl_expiry_and_refresh_on_use(make_store: StoreFactory, elapse: Elapse) -> None:
    store = await make_store(ttl_s=100)
    session = await store.save(Session(user_id="u1"))
    elapse(60)
    assert await store.get(session.id, user_id="u1") is not None  # refreshes the TTL
    elapse(60)  # 120 s after the save: alive only because of the refresh
    assert await store.get(session.id, user_id="u1") is not None
    elapse(130)
    assert await store.get(session.id, user_id="u1") is None
    assert await store.list_for_user("u1") == []


async def test_size_cap_keeps_latest_turns_and_a_summary(make_store: StoreFactory) -> None:
    max_bytes = 8192
    store = await make_store(max_bytes=max_bytes)
    session = await store.save(Session())
    for turn in range(40):
        session.messages.append(Message(role="user", content=f"request {turn}: " + "x" * 150))
        session.messages.append(
            Message(role="assistant", content="y" * 150, recommendations=[f"i{turn}"])
        )
        if turn == 2:
            session.profile.like("i2")
        session = await store.save(session)
        assert len(session.model_dump_json().encode()) <= max_bytes

    loaded = await store.get(session.id)
    assert loaded is not None
    assert len(loaded.model_dump_json().encode()) <= max_bytes
    # the newest turns are verbatim, nothing vanished without a trace
    assert loaded.messages[-2].content.startswith("request 39: ")
    assert loaded.messages[-1].recommendations == ["i39"]
    assert loaded.collapsed.messages + len(loaded.messages) == 80
    assert 4 <= len(loaded.messages) < 80
    # the summary says what was asked and shown earlier, and what is liked
    assert "collapsed" in loaded.summary
    first_ask = next(m for m in loaded.messages if m.role == "user")
    oldest_kept = int(first_ask.content.split()[1].rstrip(":"))
    assert f'"request {oldest_kept - 1}: ' in loaded.summary
    assert f"i{oldest_kept - 1}" in loaded.summary
    assert "liked: i2" in loaded.summary


async def test_shown_and_feedback_lists_are_capped(store: SessionStore) -> None:
    session = Session()
    session.shown = [str(n) for n in range(2000)]
    for n in range(1000):
        session.add_feedback(Feedback(item_id=str(n), signal="click"))
    saved = await store.save(session)
    assert saved.shown[-1] == "1999" and len(saved.shown) < 2000
    assert saved.feedback[-1].item_id == "999" and len(saved.feedback) < 1000


@pytest.mark.parametrize("raw", [b"{not json", b'{"id": 5, "messages": "nope"}', b"\xff\xfe"])
async def test_corrupt_json_is_reset_with_a_warning(
    store: SessionStore,
    redis_admin: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    raw: bytes,
) -> None:
    caplog.set_level(logging.WARNING, logger="memory")
    session = await store.save(Session(summary="before"))
    corrupt(store, redis_admin, session.id, raw)

    assert await store.get(session.id) is None  # reset: treated as absent, no crash
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not a valid session" in w and "reset" in w for w in warnings), warnings
    if isinstance(store, RedisSessionStore):
        assert redis_admin.exists(store.session_key(session.id)) == 0
    # the conversation can start afresh under the same id
    fresh = await store.save(Session(id=session.id))
    assert fresh.version == 1 and fresh.summary == ""


async def test_corrupt_value_met_by_a_save_is_replaced(
    store: SessionStore, redis_admin: redis.Redis
) -> None:
    session = await store.save(Session())
    corrupt(store, redis_admin, session.id, b"garbage")
    # corrupt == absent: a stale writer loses (and will reload), a fresh start wins
    with pytest.raises(VersionConflict):
        await store.save(session)
    replaced = await store.save(Session(id=session.id, summary="fresh"))
    assert replaced.version == 1
    loaded = await store.get(session.id)
    assert loaded is not None and loaded.summary == "fresh"


async def test_one_users_session_is_not_readable_by_another(store: SessionStore) -> None:
    alice = await store.save(Session(user_id="alice", summary="alice's secrets"))
    with pytest.raises(SessionAccessDenied):
        await store.get(alice.id, user_id="bob")
    with pytest.raises(SessionAccessDenied):
        await store.get(alice.id)  # an owned session needs its owner
    with pytest.raises(SessionAccessDenied):  # nor can bob overwrite it
        await store.save(Session(id=alice.id, user_id="bob", version=alice.version))
    with pytest.raises(SessionAccessDenied):
        await store.delete(alice.id, user_id="bob")
    mine = await store.get(alice.id, user_id="alice")
    assert mine is not None and mine.summary == "alice's secrets"

    # an anonymous session is readable by its id, and can be claimed once
    anon = await store.save(Session())
    assert await store.get(anon.id, user_id="bob") is not None
    claimed = await store.save(anon.model_copy(update={"user_id": "carol"}))
    assert claimed.user_id == "carol"
    with pytest.raises(SessionAccessDenied):
        await store.get(anon.id, user_id="bob")
    assert await store.list_for_user("carol") == [anon.id]


async def test_delete(store: SessionStore) -> None:
    session = await store.save(Session(user_id="u1"))
    assert await store.delete(session.id, user_id="u1") is True
    assert await store.get(session.id, user_id="u1") is None
    assert await store.delete(session.id, user_id="u1") is False
    assert await store.list_for_user("u1") == []


async def test_list_for_user(make_store: StoreFactory, elapse: Elapse) -> None:
    store = await make_store(ttl_s=100)
    first = await store.save(Session(user_id="alice"))
    elapse(1)
    second = await store.save(Session(user_id="alice"))
    await store.save(Session(user_id="bob"))
    await store.save(Session())
    assert await store.list_for_user("alice") == [second.id, first.id]  # newest first
    elapse(1)
    await store.save(first)  # saved again -> most recent
    assert await store.list_for_user("alice") == [first.id, second.id]
    assert len(await store.list_for_user("bob")) == 1
    assert await store.list_for_user("nobody") == []
    elapse(130)
    assert await store.list_for_user("alice") == []  # expired entries pruned


async def test_ping_on_a_live_store(store: SessionStore) -> None:
    await store.ping()
