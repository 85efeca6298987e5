"""Sessions: read, forget, feedback, and isolation between users."""

from __future__ import annotations

from typing import Any

import httpx


async def _start(client: httpx.AsyncClient, user_id: str | None = None,
                 message: str = "action movies from the 90s") -> dict[str, Any]:
    body = {"message": message}
    if user_id:
        body["user_id"] = user_id
    r = await client.post("/v1/chat", json=body)
    assert r.status_code == 200, r.text
    turn: dict[str, Any] = r.json()
    return turn


async def test_read_shows_messages_and_shown_items(client: httpx.AsyncClient) -> None:
    turn = await _start(client)
    r = await client.get(f"/v1/sessions/{turn['session_id']}")
    assert r.status_code == 200
    s = r.json()
    assert s["id"] == turn["session_id"]
    assert s["messages"][0] == {**s["messages"][0], "role": "user",
                                "content": "action movies from the 90s"}
    assert s["messages"][1]["content"] == turn["reply"]
    assert s["shown"] == [x["item_id"] for x in turn["recommendations"]]
    assert "version" not in s


async def test_feedback_is_recorded_and_the_next_turn_respects_it(
    client: httpx.AsyncClient,
) -> None:
    turn = await _start(client)
    sid = turn["session_id"]
    liked = turn["recommendations"][0]["item_id"]
    disliked = turn["recommendations"][1]["item_id"]
    r = await client.post(f"/v1/sessions/{sid}/feedback",
                          json={"item_id": liked, "signal": "like"})
    assert r.status_code == 200, r.text
    assert r.json()["liked"] == [liked]
    r = await client.post(f"/v1/sessions/{sid}/feedback",
                          json={"item_id": disliked, "signal": "dislike"})
    assert r.json()["disliked"] == [disliked]
    s = (await client.get(f"/v1/sessions/{sid}")).json()
    assert s["profile"]["liked"] == [liked] and s["profile"]["disliked"] == [disliked]
    assert [(f["item_id"], f["signal"]) for f in s["feedback"]] == [
        (liked, "like"), (disliked, "dislike")]
    nxt = (await client.post("/v1/chat", json={"message": "more please",
                                               "session_id": sid})).json()
    assert {liked, disliked}.isdisjoint(x["item_id"] for x in nxt["recommendations"])


async def test_feedback_errors(client: httpx.AsyncClient) -> None:
    turn = await _start(client)
    sid = turn["session_id"]
    item = turn["recommendations"][0]["item_id"]
    r = await client.post(f"/v1/sessions/{sid}/feedback",
                          json={"item_id": "no-such-item", "signal": "like"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "item_not_found"
    r = await client.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "signal": "meh"})
    assert r.status_code == 422 and "signal" in r.json()["error"]["message"]
    r = await client.post("/v1/sessions/unknown-session/feedback",
                          json={"item_id": item, "signal": "like"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    s = (await client.get(f"/v1/sessions/{sid}")).json()
    assert s["feedback"] == []


async def test_forget_removes_the_session(client: httpx.AsyncClient) -> None:
    sid = (await _start(client))["session_id"]
    r = await client.delete(f"/v1/sessions/{sid}")
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(f"/v1/sessions/{sid}")).status_code == 404
    r = await client.delete(f"/v1/sessions/{sid}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    r = await client.post("/v1/chat", json={"message": "hello again", "session_id": sid})
    assert r.status_code == 404


async def test_another_users_session_is_indistinguishable_from_an_unknown_one(
    client: httpx.AsyncClient,
) -> None:
    a = await _start(client, user_id="alice")
    sid = a["session_id"]
    item = a["recommendations"][0]["item_id"]
    unknown = (await client.get("/v1/sessions/not-a-session", params={"user_id": "bob"})).json()
    for params in ({"user_id": "bob"}, {}):
        r = await client.get(f"/v1/sessions/{sid}", params=params)
        assert r.status_code == 404 and r.json() == unknown
        r = await client.delete(f"/v1/sessions/{sid}", params=params)
        assert r.status_code == 404
    r = await client.post(f"/v1/sessions/{sid}/feedback",
                          json={"item_id": item, "signal": "like", "user_id": "bob"})
    assert r.status_code == 404
    r = await client.post("/v1/chat", json={"message": "more", "session_id": sid,
                                            "user_id": "bob"})
    assert r.status_code == 404
    r = await client.post("/v1/chat/stream", json={"message": "more", "session_id": sid})
    assert r.status_code == 404
    # alice still sees her untouched session
    s = (await client.get(f"/v1/sessions/{sid}", params={"user_id": "alice"})).json()
    assert s["user_id"] == "alice" and len(s["messages"]) == 2 and s["feedback"] == []
