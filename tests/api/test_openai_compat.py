"""The OpenAI-compatible endpoint, driven by the real ``openai`` client against a real
uvicorn server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionContentPartTextParam, ChatCompletionMessageParam
from pydantic import BaseModel

from tests.api.support import LiveServer

if TYPE_CHECKING:
    from agent.types import TurnResult
    from recagent.runtime import Runtime


def extra(reply: BaseModel) -> dict[str, Any]:
    """The fields the API adds to OpenAI's (``recommendations``, ``session_id``)."""
    assert reply.model_extra is not None
    return reply.model_extra


def error_body(error: openai.APIStatusError) -> dict[str, Any]:
    """The JSON error object of a failed request."""
    assert isinstance(error.body, dict)
    return error.body


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
    assert reply is not None
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    recs = extra(completion)["recommendations"]
    assert recs and all("Comedy" in r["categories"] for r in recs)
    assert recs[0]["title"] in reply
    assert raw.headers["x-session-id"] == extra(completion)["session_id"]


def test_streaming_completion(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="recagent", stream=True,
        messages=[{"role": "user", "content": "a 90s thriller like Heat"}])
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    recs = extra(chunks[-1])["recommendations"]
    assert recs and recs[0]["title"] in text
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_session_continuity_with_the_user_field(oai: openai.OpenAI, live_server: LiveServer
                                                ) -> None:
    history: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "sci-fi from the 80s"}]
    first = oai.chat.completions.create(model="recagent", messages=history, user="carol")
    sid = extra(first)["session_id"]
    history += [{"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "more like those"}]
    second = oai.chat.completions.create(model="recagent", messages=history, user="carol")
    assert extra(second)["session_id"] == sid
    first_ids = {r["item_id"] for r in extra(first)["recommendations"]}
    assert first_ids.isdisjoint(r["item_id"] for r in extra(second)["recommendations"])
    # a conversation with no assistant message yet starts a new session
    third = oai.chat.completions.create(model="recagent", user="carol",
                                        messages=[{"role": "user", "content": "westerns"}])
    assert extra(third)["session_id"] != sid
    session = httpx.get(f"{live_server.url}/v1/sessions/{sid}", params={"user_id": "carol"})
    assert len(session.json()["messages"]) == 4


def test_session_continuity_with_the_header_and_unknown_session(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "animated films"}])
    sid = extra(first)["session_id"]
    second = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "from the 90s"}],
        extra_headers={"X-Session-ID": sid})
    assert extra(second)["session_id"] == sid
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(
            model="recagent", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Session-ID": "not-a-real-session"})
    assert error_body(info.value)["code"] == "session_not_found"


def test_errors_reach_the_client_as_openai_errors(oai: openai.OpenAI) -> None:
    # every invalid request is 400 (as with OpenAI), never 422, with the API's codes
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="recagent",
                                    messages=[{"role": "assistant", "content": "hello"}])
    assert error_body(info.value)["code"] == "no_user_message"
    with pytest.raises(openai.BadRequestError) as too_long:
        oai.chat.completions.create(model="recagent",
                                    messages=[{"role": "user", "content": "x" * 600}])
    assert error_body(too_long.value)["code"] == "message_too_long"
    blanks: tuple[str | list[ChatCompletionContentPartTextParam], ...] = (
        "", "  ", [{"type": "text", "text": " "}])
    for blank in blanks:
        with pytest.raises(openai.BadRequestError) as empty:
            oai.chat.completions.create(model="recagent",
                                        messages=[{"role": "user", "content": blank}])
        assert error_body(empty.value)["code"] == "empty_message", blank
    with pytest.raises(openai.BadRequestError) as role:
        # deliberately not a valid message: the API must refuse an unknown role
        oai.chat.completions.create(
            model="recagent",
            messages=[{"role": "narrator", "content": "hi"}])  # type: ignore[misc, list-item]
    assert error_body(role.value)["code"] == "invalid_request"
    with pytest.raises(openai.BadRequestError) as typed:
        # deliberately ill-typed: the API must refuse a string where a number goes
        oai.chat.completions.create(model="recagent", max_tokens="5",  # type: ignore[call-overload]
                                    messages=[{"role": "user", "content": "comedies"}])
    assert error_body(typed.value)["param"] == "max_tokens"


def test_models_list(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["recagent"]


async def test_the_system_message_instructs_the_reply_writer(
        client: httpx.AsyncClient, shared_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = shared_runtime.agent
    seen: list[str | None] = []
    original = agent.turn

    async def recording(message: str, *, session_id: str | None = None,
                        user_id: str | None = None, limit: int | None = None,
                        instructions: str | None = None) -> TurnResult:
        seen.append(instructions)
        return await original(message, session_id=session_id, user_id=user_id, limit=limit,
                              instructions=instructions)

    monkeypatch.setattr(agent, "turn", recording)
    r = await client.post("/v1/chat/completions", json={
        "model": "recagent", "messages": [
            {"role": "system", "content": "Answer like a pirate."},
            {"role": "user", "content": "a 90s comedy"}]})
    assert r.status_code == 200, r.text
    assert seen == ["Answer like a pirate."]


@pytest.mark.parametrize(("messages", "at"), [
    ([{"role": "user", "content": ""}], 0),
    ([{"role": "system", "content": "answer briefly"}, {"role": "user", "content": " \n\t"}], 1),
    ([{"role": "user", "content": [{"type": "text", "text": "   "}]}], 0),
])
async def test_an_empty_user_message_is_one_plain_openai_error(
        client: httpx.AsyncClient, messages: list[dict[str, Any]], at: int) -> None:
    """Not pydantic's internals (``messages.0.user.content.function-after[...]``, "Input
    should be a valid list"): the parameter as OpenAI names it and a plain message."""
    r = await client.post("/v1/chat/completions",
                          json={"model": "recagent", "messages": messages})
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "the message is empty",
                                  "type": "invalid_request_error", "code": "empty_message",
                                  "param": f"messages[{at}].content"}}


async def test_a_user_message_of_the_wrong_type_names_its_content(
        client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json={
        "model": "recagent", "messages": [{"role": "user", "content": 42}]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == "messages[0].content"
    assert error["message"] == ("messages[0].content: content must be text or a list of "
                                "content parts")
