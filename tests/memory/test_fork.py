"""``Session.fork``: a turn's working copy never changes the session it was made from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from memory.session import Feedback, Message, Session


def _full_session() -> Session:
    s = Session(user_id="u1", summary="earlier")
    s.messages = [Message(role="user", content="hi", recommendations=["1"], reasons=["r"])]
    s.shown = ["1", "2"]
    s.feedback = [Feedback(item_id="1", signal="like")]
    s.profile.liked, s.profile.disliked, s.profile.seen = ["1"], ["2"], ["3"]
    e = s.profile.expectations
    e.wanted_categories, e.avoided_categories, e.notes = ["Drama"], ["Horror"], ["short"]
    s.collapsed.asked, s.collapsed.recommended = ["old request"], ["9"]
    return s


def _lists(model: BaseModel, path: str = "") -> list[tuple[str, list[Any]]]:
    """Every list held by ``model`` and its sub-models (so a new field is covered too)."""
    out = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, list):
            out.append((path + name, value))
        elif isinstance(value, BaseModel):
            out.extend(_lists(value, f"{path}{name}."))
    return out


def test_changing_every_list_of_a_fork_leaves_the_original_as_it_was() -> None:
    original = _full_session()
    before = original.model_dump_json()
    fork = original.fork()
    assert fork.model_dump_json() == before
    lists = _lists(fork)
    assert {p for p, _ in lists} >= {"messages", "shown", "feedback", "profile.liked",
                                     "profile.expectations.notes", "collapsed.asked"}
    for _path, values in lists:
        values.append(values[0] if values else "x")
    fork.profile.like("7")
    fork.profile.expectations.year_min = 1990
    fork.user_id = "u2"
    assert original.model_dump_json() == before
