"""Long-term profiles in SQL (SQLite file and PostgreSQL): merging, concurrency, durability."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from sqlalchemy import Engine, update

from memory.feedback import record_feedback
from memory.profiles import ProfileStore
from memory.session import Expectations, Feedback, Message, Session, SessionProfile
from memory.store_redis import RedisSessionStore
from tests.conftest import REDIS_URL
from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.models import UserProfile


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def test_unknown_user_has_an_empty_profile(engine: Engine) -> None:
    profile = ProfileStore(engine).get("nobody")
    assert profile.liked == [] and profile.disliked == [] and profile.updated_at is None


def test_likes_and_dislikes_merge_and_a_later_dislike_wins(engine: Engine) -> None:
    store = ProfileStore(engine)
    store.merge(
        "alice",
        SessionProfile(
            liked=["1", "2"],
            expectations=Expectations(wanted_categories=["Crime"], year_min=1990),
        ),
    )
    store.merge("alice", SessionProfile(liked=["3"], disliked=["4"]))
    store.merge("alice", Feedback(item_id="2", signal="dislike"))
    store.merge(
        "alice",
        [Feedback(item_id="4", signal="like"), Feedback(item_id="9", signal="not_interested")],
    )
    store.merge("alice", Feedback(item_id="3", signal="click"))
    store.merge("alice", SessionProfile(expectations=Expectations(avoided_categories=["Crime"])))

    profile = store.get("alice")
    assert profile.liked == ["1", "3", "4"]
    assert profile.disliked == ["2", "9"]
    assert profile.counts == {"dislike": 1, "like": 1, "not_interested": 1, "click": 1}
    assert profile.expectations.year_min == 1990
    assert profile.expectations.wanted_categories == []  # later avoided overrides wanted
    assert profile.expectations.avoided_categories == ["Crime"]
    assert profile.updated_at is not None
    assert store.get("bob").liked == []


def test_merging_a_session_profile_twice_changes_nothing(engine: Engine) -> None:
    store = ProfileStore(engine)
    change = SessionProfile(liked=["1"], disliked=["2"])
    once = store.merge("alice", change)
    twice = store.merge("alice", change)
    assert (once.liked, once.disliked, once.counts) == (twice.liked, twice.disliked, twice.counts)


def test_concurrent_merges_lose_nothing(engine: Engine) -> None:
    store = ProfileStore(engine)

    def like_many(worker: int) -> None:
        for n in range(5):
            store.merge("alice", Feedback(item_id=f"{worker}-{n}", signal="like"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(like_many, range(8)))
    profile = store.get("alice")
    assert sorted(profile.liked) == sorted(f"{w}-{n}" for w in range(8) for n in range(5))
    assert profile.counts["like"] == 40


def test_profile_survives_a_restart(db_url: str, engine: Engine) -> None:
    ProfileStore(engine).merge("alice", Feedback(item_id="1", signal="like"))
    engine.dispose()
    restarted = make_engine(db_url)
    try:
        assert ProfileStore(restarted).get("alice").liked == ["1"]
    finally:
        restarted.dispose()


def test_unreadable_profile_starts_afresh_with_a_warning(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="memory")
    store = ProfileStore(engine)
    store.merge("alice", Feedback(item_id="1", signal="like"))
    with engine.begin() as conn:
        conn.execute(update(UserProfile).values(data={"liked": 5}))
    assert store.get("alice").liked == []
    assert any("not readable" in r.getMessage() for r in caplog.records)
    assert store.merge("alice", Feedback(item_id="2", signal="like")).liked == ["2"]


def test_bad_user_id_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="user_id"):
        ProfileStore(engine).get("")


def test_tenants_and_long_ids_keep_their_own_profiles(engine: Engine) -> None:
    """``alice`` of two tenants (and of the default one) are three people; ids longer than
    the column are kept apart by a digest, not refused or cut into one another."""
    from memory.profiles import tenant_user

    store = ProfileStore(engine)
    store.merge(tenant_user("shop-a", "alice"), Feedback(item_id="1", signal="like"))
    store.merge(tenant_user("shop-b", "alice"), Feedback(item_id="2", signal="like"))
    assert store.get(tenant_user("shop-a", "alice")).liked == ["1"]
    assert store.get(tenant_user("shop-b", "alice")).liked == ["2"]
    assert store.get(tenant_user("default", "alice")).updated_at is None
    long_a, long_b = "u" * 100 + "a", "u" * 100 + "b"
    store.merge(tenant_user("shop-a", long_a), Feedback(item_id="3", signal="like"))
    assert store.get(tenant_user("shop-a", long_a)).liked == ["3"]
    assert store.get(tenant_user("shop-a", long_b)).updated_at is None
    assert store.delete(tenant_user("shop-a", long_a))


async def test_profile_survives_a_redis_flush(
    db_url: str, engine: Engine, redis_prefix: str, redis_admin: redis.Redis
) -> None:
    sessions = RedisSessionStore(REDIS_URL, prefix=redis_prefix)
    profiles = ProfileStore(engine)
    try:
        session = Session(user_id="alice")
        session.messages.append(Message(role="user", content="I loved Heat"))
        session.profile.like("6")
        session = await sessions.save(session)
        await profiles.amerge("alice", session.profile)
        await record_feedback(
            sessions, profiles, session.id, Feedback(item_id="7", signal="like"), user_id="alice"
        )
        await record_feedback(
            sessions, profiles, session.id, Feedback(item_id="6", signal="dislike"), user_id="alice"
        )
        stored = await sessions.get(session.id, user_id="alice")
        assert stored is not None and stored.profile.liked == ["7"]
    finally:
        await sessions.aclose()

    # FLUSHDB of our share of Redis (only our prefix: others use the same server)
    keys = list(redis_admin.scan_iter(match=redis_prefix + "*"))
    assert keys
    redis_admin.delete(*keys)
    engine.dispose()

    sessions = RedisSessionStore(REDIS_URL, prefix=redis_prefix)
    restarted = make_engine(db_url)
    try:
        assert await sessions.get(session.id, user_id="alice") is None
        assert await sessions.list_for_user("alice") == []
        profile = await ProfileStore(restarted).aget("alice")
        assert profile.liked == ["7"] and profile.disliked == ["6"]
        assert profile.counts == {"like": 1, "dislike": 1}
        # a new session of alice starts from her durable profile
        fresh = Session(user_id="alice", profile=profile.to_session_profile())
        assert fresh.profile.disliked == ["6"]
    finally:
        await sessions.aclose()
        restarted.dispose()
