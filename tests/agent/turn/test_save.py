"""The save step: the turn's changes written through the one compare-and-set writer; a lost
race is re-applied to the fresh session, then reported as a conflict (the same for every
writer: a turn and feedback)."""

from __future__ import annotations

import pytest

from agent.errors import SessionConflict, SessionForbidden
from agent.turn.save import SAVE_ATTEMPTS, RememberedPlans, save_turn
from agent.turn.state import SessionChanges
from agent.types import Recommendation
from memory.session import Message, Session
from memory.store_memory import InMemorySessionStore
from tests.agent.conftest import AgentFactory


class Contended(InMemorySessionStore):
    """Another request saves the session just before each of ours, ``wins`` times (it wins
    those races)."""

    def __init__(self, wins: int) -> None:
        super().__init__()
        self.wins = wins

    async def save(self, session: Session) -> Session:
        if self.wins > 0:
            self.wins -= 1
            other = await self.get(session.id, user_id=session.user_id)
            other = other or Session(id=session.id, user_id=session.user_id)
            other.messages.append(Message(role="user", content="from another tab"))
            await super().save(other)
        return await super().save(session)


def _changes(owner: str | None = None) -> SessionChanges:
    card = Recommendation(item_id="1", title="Toy Story", score=1.0, reason="a classic")
    return SessionChanges(message="something funny", reply="Try Toy Story.", recs=[card],
                          info_plan=False, owner=owner, added_likes=["50"], added_dislikes=[],
                          added_seen=[], expectations=None)


async def _stored(store: InMemorySessionStore, **fields: object) -> Session:
    return await store.save(Session.model_validate(fields))


async def test_save_writes_the_turn_into_the_session() -> None:
    store = InMemorySessionStore()
    loaded = await _stored(store)
    saved = await save_turn(store, loaded, _changes(), None)
    assert [m.content for m in saved.messages] == ["something funny", "Try Toy Story."]
    assert saved.messages[1].recommendations == ["1"] and saved.shown == ["1"]
    assert saved.profile.liked == ["50"] and saved.version == loaded.version + 1
    assert loaded.messages == [] and loaded.shown == []  # the loaded copy is left as it was


async def test_save_retries_a_lost_race_on_the_fresh_session() -> None:
    store = Contended(wins=0)
    loaded = await _stored(store)
    store.wins = SAVE_ATTEMPTS - 1
    saved = await save_turn(store, loaded, _changes(), None)
    # the other request's messages stay, the turn's come after them, once
    assert [m.content for m in saved.messages] == (
        ["from another tab"] * (SAVE_ATTEMPTS - 1) + ["something funny", "Try Toy Story."])
    assert saved.shown == ["1"]


async def test_save_reports_a_conflict_when_every_race_is_lost() -> None:
    store = Contended(wins=0)
    loaded = await _stored(store)
    store.wins = SAVE_ATTEMPTS
    with pytest.raises(SessionConflict):
        await save_turn(store, loaded, _changes(), None)
    stored = await store.get(loaded.id)
    assert stored is not None and "something funny" not in [m.content for m in stored.messages]


async def test_save_of_a_new_session_claims_it_for_its_user() -> None:
    store = InMemorySessionStore()
    saved = await save_turn(store, Session(id="new-one"), _changes(owner="dana"), "dana")
    assert saved.user_id == "dana" and saved.version == 1
    # another user's turn that started the same id meanwhile: the reload is refused
    with pytest.raises(SessionForbidden):
        await save_turn(store, Session(id="new-one"), _changes(owner="erin"), "erin")
    stored = await store.get("new-one", user_id="dana")
    assert stored is not None and stored.user_id == "dana" and stored.version == 1


async def test_feedback_loses_races_the_same_way(make_agent: AgentFactory) -> None:
    store = Contended(wins=0)
    agent = await make_agent(store=store)
    session = await _stored(store)
    saved = await agent.feedback(session.id, "1", "like")
    assert saved.profile.liked == ["1"]
    store.wins = 1_000  # another request always saves first
    with pytest.raises(SessionConflict):
        await agent.feedback(session.id, "2", "like")
    stored = await store.get(session.id)
    assert stored is not None and stored.profile.liked == ["1"]


def test_remembered_plans_keep_the_latest_sessions_only() -> None:
    plans = RememberedPlans(capacity=2)
    plans.remember("a", "funny", [{"name": "filter_items", "args": {"categories_all": ["X"]}},
                                  {"name": "broken", "args": "{oops"}])
    plans.remember("b", "sad", [])
    plans.remember("a", "funny again", [])  # a's turn is the newest now
    plans.remember("c", "scary", [])
    assert plans.get("b") is None and len(plans) == 2
    assert plans.get("a") == ("funny again", [])
    plans.remember("d", "x", [{"name": "broken", "args": "{oops"}])
    assert plans.get("d") == ("x", [])  # a call without readable arguments is not kept
    plans.forget("d")
    assert plans.get("d") is None
