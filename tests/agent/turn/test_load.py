"""The load step: the request checked, the session loaded or started, the store's errors
mapped to the agent's."""

from __future__ import annotations

import pytest

from agent.errors import (
    AgentError,
    InvalidRequest,
    SessionConflict,
    SessionForbidden,
    SessionUnknown,
    StoreUnavailable,
)
from agent.turn.load import MAX_LIMIT, checked_request, load_session, store_errors
from memory.session import (
    Session,
    SessionAccessDenied,
    SessionError,
    SessionNotFound,
    VersionConflict,
)
from memory.store_memory import InMemorySessionStore
from recagent.settings import Settings


def test_request_is_stripped_and_gets_the_default_count(agent_settings: Settings) -> None:
    assert checked_request(agent_settings, "  funny movies \n", None) == (
        "funny movies", agent_settings.recommendations_per_turn)
    assert checked_request(agent_settings, "x", MAX_LIMIT) == ("x", MAX_LIMIT)


@pytest.mark.parametrize(("message", "limit", "code"), [
    ("   ", None, "empty_message"),
    ("x" * 100_000, None, "message_too_long"),
    ("hi", 0, "invalid_limit"),
    ("hi", MAX_LIMIT + 1, "invalid_limit"),
    ("hi", True, "invalid_limit"),
])
def test_bad_request_is_refused(agent_settings: Settings, message: str, limit: int | None,
                                code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        checked_request(agent_settings, message, limit)
    assert caught.value.code == code and caught.value.status == 400


async def test_load_refuses_another_users_session() -> None:
    store = InMemorySessionStore()
    owned = await store.save(Session(user_id="alice"))
    with pytest.raises(SessionForbidden):
        await load_session(store, None, owned.id, "bob")
    with pytest.raises(SessionForbidden):  # no user at all is not the owner either
        await load_session(store, None, owned.id, None)
    assert (await load_session(store, None, owned.id, "alice")).id == owned.id


async def test_load_returns_the_stored_session_and_starts_an_unknown_one() -> None:
    store = InMemorySessionStore()
    stored = await store.save(Session(shown=["1"]))
    loaded = await load_session(store, None, stored.id, None)
    assert loaded.shown == ["1"] and loaded.version == stored.version
    new = await load_session(store, None, "chosen-id", "carol")
    assert (new.id, new.user_id, new.version) == ("chosen-id", "carol", 0)
    assert await store.get("chosen-id", user_id="carol") is None  # saved only by the turn
    fresh = await load_session(store, None, None, None)
    assert fresh.id and fresh.id != stored.id


@pytest.mark.parametrize(("raised", "expected"), [
    (SessionNotFound("s"), SessionUnknown),
    (SessionAccessDenied("not yours"), SessionForbidden),
    (VersionConflict("lost"), SessionConflict),
    (SessionError("redis is down"), StoreUnavailable),
])
def test_store_errors_become_the_agents(raised: Exception, expected: type[AgentError]) -> None:
    with pytest.raises(expected) as caught, store_errors():
        raise raised
    assert caught.value.status in (403, 404, 409, 503)
