"""The OpenAI-compatible endpoint, driven by the real ``openai`` client against a real
uvicorn server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.api.support import LiveServer


@pytest.fixture
def oai(live_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0,
                       timeout=30) as client:
        yield client


def test_non_streaming_completion(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="recagent", messages=[{"role": "user", "content": "comedies from the 1990s"}])
    completion = raw.parse()
    assert completion.object == "chat.completion"
    reply = completion.choices[0].message.content
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    recs = completion.model_extra["recommendations"]
    assert recs and all("Comedy" in r["categories"] for r in recs)
    assert recs[0]["title"] in reply
    assert raw.headers["x-session-id"] == completion.model_extra["session_id"]


def test_streaming_completion(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="recagent", stream=True,
        messages=[{"role": "user", "content": "a 90s thriller like Heat"}])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    recs = chunks[-1].model_extra["recommendations"]
    assert recs and recs[0]["title"] in text
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_session_continuity_with_the_user_field(oai: openai.OpenAI, live_server: LiveServer
                                                ) -> None:
    history = [{"role": "user", "content": "sci-fi from the 80s"}]
    first = oai.chat.completions.create(model="recagent", messages=history, user="carol")
    sid = first.model_extra["session_id"]
    history += [{"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "more like those"}]
    second = oai.chat.completions.create(model="recagent", messages=history, user="carol")
    assert second.model_extra["session_id"] == sid
    first_ids = {r["item_id"] for r in first.model_extra["recommendations"]}
    assert first_ids.isdisjoint(r["item_id"] for r in second.model_extra["recommendations"])
    # a conversation with no assistant message yet starts a new session
    third = oai.chat.completions.create(model="recagent", user="carol",
                                        messages=[{"role": "user", "content": "westerns"}])
    assert third.model_extra["session_id"] != sid
    session = httpx.get(f"{live_server.url}/v1/sessions/{sid}", params={"user_id": "carol"})
    assert len(session.json()["messages"]) == 4


def test_session_continuity_with_the_header_and_unknown_session(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "animated films"}])
    sid = first.model_extra["session_id"]
    second = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "from the 90s"}],
        extra_headers={"X-Session-ID": sid})
    assert second.model_extra["session_id"] == sid
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(
            model="recagent", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Session-ID": "not-a-real-session"})
    assert info.value.body["code"] == "session_not_found"


def test_errors_reach_the_client_as_openai_errors(oai: openai.OpenAI) -> None:
    # every invalid request is 400 (as with OpenAI), never 422, with the API's codes
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="recagent",
                                    messages=[{"role": "assistant", "content": "hello"}])
    assert info.value.body["code"] == "no_user_message"
    with pytest.raises(openai.BadRequestError) as too_long:
        oai.chat.completions.create(model="recagent",
                                    messages=[{"role": "user", "content": "x" * 600}])
    assert too_long.value.body["code"] == "message_too_long"
    for blank in ("", "  ", [{"type": "text", "text": " "}]):
        with pytest.raises(openai.BadRequestError) as empty:
            oai.chat.completions.create(model="recagent",
                                        messages=[{"role": "user", "content": blank}])
        assert empty.value.body["code"] == "empty_message", blank
    with pytest.raises(openai.BadRequestError) as role:
        oai.chat.completions.create(model="recagent",
                                    messages=[{"role": "narrator", "content": "hi"}])
    assert role.value.body["code"] == "invalid_request"
    with pytest.raises(openai.BadRequestError) as typed:
        oai.chat.completions.create(model="recagent", max_tokens="5",
                                    messages=[{"role": "user", "content": "comedies"}])
    assert typed.value.body["param"] == "max_tokens"


def test_models_list(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["recagent"]


async def test_the_system_message_instructs_the_reply_writer(client: httpx.AsyncClient,
                                                              shared_runtime: object) -> None:
    agent = shared_runtime.agent  # type: ignore[attr-defined]
    seen: list[object] = []
    original = agent.turn

    async def recording(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("instructions"))
        return await original(*args, **kwargs)

    agent.turn = recording
    try:
        r = await client.post("/v1/chat/completions", json={
            "model": "recagent", "messages": [
                {"role": "system", "content": "Answer like a pirate."},
                {"role": "user", "content": "a 90s comedy"}]})
    finally:
        agent.turn = original
    assert r.status_code == 200, r.text
    assert seen == ["Answer like a pirate."]
