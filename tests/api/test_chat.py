"""Chat and streaming over the real app with the rules planner on MovieLens."""

from __future__ import annotations

import httpx

from tests.api.support import parse_sse


async def test_chat_answers_with_recommendations_matching_the_request(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/chat", json={"message": "comedies from the 1990s"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reply"]
    recs = body["recommendations"]
    assert recs, "a plain genre + decade request must give recommendations"
    for rec in recs:
        assert "Comedy" in rec["categories"]
        assert 1990 <= rec["year"] <= 1999
    assert r.headers["x-session-id"] == body["session_id"]
    assert len(body["session_id"]) >= 32  # unguessable
    assert body["trace"]["attempts"], "the trace shows the plan"


async def test_follow_up_continues_the_session_and_does_not_repeat_items(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.post("/v1/chat", json={"message": "sci-fi movies from the 80s"})).json()
    second = (await client.post("/v1/chat", json={
        "message": "more like those", "session_id": first["session_id"]})).json()
    assert second["session_id"] == first["session_id"]
    shown_first = {r["item_id"] for r in first["recommendations"]}
    assert shown_first and second["recommendations"]
    assert not shown_first & {r["item_id"] for r in second["recommendations"]}
    session = (await client.get(f"/v1/sessions/{first['session_id']}")).json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2


async def test_stream_emits_events_in_order_and_ends_with_the_whole_result(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/chat/stream", json={"message": "a 90s thriller like Heat"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [name for name, _ in events]
    assert names[0] == "plan"
    assert names[-1] == "done"
    assert "recommendations" in names and "delta" in names
    # plan/tool events come first, then recommendations, then the reply text, then done
    rec_at = names.index("recommendations")
    assert set(names[:rec_at]) <= {"plan", "tool"}
    assert "tool" in names[:rec_at]
    assert set(names[rec_at + 1:-1]) == {"delta"}
    done = events[-1][1]
    streamed = "".join(d["text"] for n, d in events if n == "delta")
    assert streamed == done["reply"]
    assert [x["item_id"] for x in events[rec_at][1]["recommendations"]] == \
        [x["item_id"] for x in done["recommendations"]]
    assert events[rec_at][1]["session_id"] == done["session_id"]


async def test_stream_refuses_bad_input_with_a_status_before_streaming(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/chat/stream", json={"message": "x" * 501})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "message_too_long"
    r = await client.post("/v1/chat/stream", json={"message": "hi", "session_id": "nope-123"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "session_not_found"


async def test_unknown_session_id_is_404_and_creates_nothing(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat", json={"message": "comedies", "session_id": "made-up-id"})
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "session_not_found", "message": (
        "no such session (unknown or expired; an anonymous session also needs the "
        "X-Session-Token header from its first answer)")}}
    assert (await client.get("/v1/sessions/made-up-id")).status_code == 404


async def test_message_limits(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat", json={"message": "y" * 501})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "message_too_long" and "500" in err["message"]
    for blank in ("", "   ", "\n\t"):
        r = await client.post("/v1/chat", json={"message": blank})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "empty_message"
    # the spaces around a message do not count against the limit
    ok = await client.post("/v1/chat", json={"message": "  " + "w" * 490 + " comedies  "})
    assert ok.status_code == 200, ok.text
    ok = await client.post("/v1/chat", json={"message": "z" * 10 + " comedies"})
    assert ok.status_code == 200


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


async def test_limit_sets_how_many_items_come_back(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat", json={"message": "comedies from the 1990s", "limit": 3})
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["recommendations"]) == 3
    r = await client.post("/v1/chat/stream", json={
        "message": "not those", "session_id": first["session_id"], "limit": 4})
    done = parse_sse(r.text)[-1]
    assert done[0] == "done" and len(done[1]["recommendations"]) == 4
    session = (await client.get(f"/v1/sessions/{first['session_id']}")).json()
    assert len(session["shown"]) == 7


async def test_bad_limit_is_422_envelope(client: httpx.AsyncClient) -> None:
    for path in ("/v1/chat", "/v1/chat/stream"):
        for bad in (0, 101, "5", 2.5):
            r = await client.post(path, json={"message": "comedies", "limit": bad})
            assert r.status_code == 422, (path, bad, r.text)
            err = r.json()["error"]
            assert err["code"] and "limit" in err["message"], err
