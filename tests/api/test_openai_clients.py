"""The OpenAI-compatible endpoint as SDKs and chat UIs use it: the real ``openai`` client and
LangChain's ``ChatOpenAI`` against a real uvicorn server on loopback, stateless (the whole
history in every request)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

from agent.tokens import count_tokens
from recagent.settings import Settings
from tests.api.support import LiveServer, parse_sse

REDIS_URL = "redis://127.0.0.1:6379/0"


def _key() -> str:
    return "sk-test-" + uuid.uuid4().hex  # a fresh identity scope per test


@pytest.fixture
def oai(live_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=live_server.url + "/v1", api_key=_key(), max_retries=0,
                       timeout=30) as client:
        yield client


def _chat(live_server: LiveServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="recagent", base_url=live_server.url + "/v1",
                      api_key=SecretStr(_key()), max_retries=0, timeout=30,
                      include_response_headers=True, **kwargs)


def _session(live_server: LiveServer, sid: str, user: str | None = None,
             key: str | None = None) -> dict[str, Any]:
    """Read a session as its owner: the user, else the anonymous SDK caller's key (which
    scopes its sessions when no identity is configured, see api.identity)."""
    params = {"user_id": user} if user else {}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.get(f"{live_server.url}/v1/sessions/{sid}", params=params, headers=headers,
                  timeout=30)
    assert r.status_code == 200, r.text
    session: dict[str, Any] = r.json()
    return session


def _user_texts(session: dict[str, Any]) -> list[str]:
    return [m["content"] for m in session["messages"] if m["role"] == "user"]


WESTERNS = ["westerns", "more like those", "from the 1960s", "more please",
            "any others like those"]
ANIMATION = ["animated movies for children", "more like those", "something from the 1990s",
             "more please", "any others like those"]


def test_two_interleaved_conversations_of_one_user_stay_apart_openai(
        oai: openai.OpenAI, live_server: LiveServer) -> None:
    user = "dana-" + uuid.uuid4().hex[:8]
    histories: dict[str, list[ChatCompletionMessageParam]] = {"west": [], "anim": []}
    sids: dict[str, set[str]] = {"west": set(), "anim": set()}
    recs: dict[str, list[dict[str, Any]]] = {"west": [], "anim": []}
    for turn in range(5):
        for name, script in (("west", WESTERNS), ("anim", ANIMATION)):
            history = histories[name]
            history.append({"role": "user", "content": script[turn]})
            raw = oai.chat.completions.with_raw_response.create(
                model="recagent", messages=history, user=user)
            done = raw.parse()
            sid = raw.headers["x-session-id"]
            assert done.model_extra is not None and done.model_extra["session_id"] == sid
            sids[name].add(sid)
            recs[name] += done.model_extra["recommendations"]
            history.append({"role": "assistant", "content": done.choices[0].message.content})
    assert len(sids["west"]) == 1 and len(sids["anim"]) == 1
    assert sids["west"] != sids["anim"]
    for name, script in (("west", WESTERNS), ("anim", ANIMATION)):
        session = _session(live_server, next(iter(sids[name])), user)
        assert _user_texts(session) == script  # all five turns, none of the other chat's
    assert recs["west"] and all("Western" in r["categories"] for r in recs["west"][:3])
    assert recs["anim"] and all("Animation" in r["categories"] for r in recs["anim"][:3])
    assert not any("Animation" in r["categories"] for r in recs["west"])


def test_two_interleaved_conversations_stay_apart_with_langchain(
        live_server: LiveServer) -> None:
    """ChatOpenAI with message history, alternating invoke and stream."""
    user = "erin-" + uuid.uuid4().hex[:8]
    llm = _chat(live_server, model_kwargs={"user": user})
    histories: dict[str, list[BaseMessage]] = {
        "west": [SystemMessage("You are a movie guide.")], "anim": []}
    sids: dict[str, set[str]] = {"west": set(), "anim": set()}
    for turn in range(5):
        for name, script in (("west", WESTERNS), ("anim", ANIMATION)):
            history = histories[name]
            history.append(HumanMessage(script[turn]))
            if (turn + len(name)) % 2:
                reply = llm.invoke(history)
                headers = reply.response_metadata["headers"]
                text = str(reply.content)
            else:
                chunks = list(llm.stream(history))
                headers = next(c.response_metadata["headers"] for c in chunks
                               if "headers" in c.response_metadata)
                text = "".join(str(c.content) for c in chunks)
            sids[name].add(headers["x-session-id"])
            assert text
            history.append(AIMessage(text))
    assert len(sids["west"]) == 1 and len(sids["anim"]) == 1
    assert sids["west"] != sids["anim"]
    assert _user_texts(_session(live_server, sids["west"].pop(), user)) == WESTERNS
    assert _user_texts(_session(live_server, sids["anim"].pop(), user)) == ANIMATION


def test_explicit_session_wins_over_content(oai: openai.OpenAI, live_server: LiveServer
                                            ) -> None:
    first = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "film noir"}])
    other = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "musicals"}])
    assert first.model_extra is not None and other.model_extra is not None
    history: Any = [{"role": "user", "content": "film noir"},
                    {"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": "more like those"}]
    via_metadata = oai.chat.completions.create(
        model="recagent", messages=history,
        metadata={"session_id": other.model_extra["session_id"]})
    assert via_metadata.model_extra is not None
    assert via_metadata.model_extra["session_id"] == other.model_extra["session_id"]
    via_content = oai.chat.completions.create(model="recagent", messages=history)
    assert via_content.model_extra is not None
    assert via_content.model_extra["session_id"] == first.model_extra["session_id"]


def test_same_opening_in_two_chats_is_never_guessed(oai: openai.OpenAI) -> None:
    """Two chats of one caller with the same first exchange: the follow-ups start afresh
    rather than continuing (and mixing into) either."""
    user = "gil-" + uuid.uuid4().hex[:8]
    opening: Any = [{"role": "user", "content": "war movies"}]
    a = oai.chat.completions.create(model="recagent", messages=opening, user=user)
    b = oai.chat.completions.create(model="recagent", messages=opening, user=user)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.model_extra is not None and b.model_extra is not None
    follow: Any = [*opening, {"role": "assistant", "content": a.choices[0].message.content},
                   {"role": "user", "content": "more like those"}]
    a2 = oai.chat.completions.create(model="recagent", messages=follow, user=user)
    assert a2.model_extra is not None
    assert a2.model_extra["session_id"] not in (a.model_extra["session_id"],
                                                b.model_extra["session_id"])


def test_stream_carries_the_session_header_and_usage_chunk(
        oai: openai.OpenAI, live_server: LiveServer) -> None:
    history: Any = [{"role": "user", "content": "a 90s thriller like Heat"}]
    with oai.chat.completions.with_streaming_response.create(
            model="recagent", messages=history, stream=True,
            stream_options={"include_usage": True}) as response:
        sid = response.headers["x-session-id"]
        chunks = list(response.parse())
    *body, usage_chunk = chunks
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert all(c.usage is None for c in body)
    text = "".join(c.choices[0].delta.content or "" for c in body)
    assert usage_chunk.usage.completion_tokens == count_tokens(text)
    assert usage_chunk.usage.prompt_tokens > 0
    assert usage_chunk.usage.total_tokens == (usage_chunk.usage.prompt_tokens
                                              + usage_chunk.usage.completion_tokens)
    assert body[-1].choices[0].finish_reason == "stop"
    assert body[-1].model_extra is not None and body[-1].model_extra["session_id"] == sid
    # the follow-up stream continues that session, named again in the header
    history += [{"role": "assistant", "content": text},
                {"role": "user", "content": "more like those"}]
    with oai.chat.completions.with_streaming_response.create(
            model="recagent", messages=history, stream=True) as again:
        assert again.headers["x-session-id"] == sid
        list(again.parse())
    assert len(_session(live_server, sid, key=oai.api_key)["messages"]) == 4


def test_usage_with_langchain_stream(live_server: LiveServer) -> None:
    llm = _chat(live_server, stream_usage=True)
    chunks = list(llm.stream([HumanMessage("comedies from the 1980s")]))
    total = chunks[0]
    for c in chunks[1:]:
        total += c
    usage = getattr(total, "usage_metadata", None)
    assert usage is not None
    assert usage["output_tokens"] == count_tokens(str(total.content)) > 0


def test_visible_recommendations_end_the_content(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model="recagent", messages=[{"role": "user", "content": "science fiction"}])
    assert done.model_extra is not None
    recs = done.model_extra["recommendations"]
    content = done.choices[0].message.content or ""
    assert recs
    expected = "\n".join(
        f"{k}. {r['title']}" + (f" ({r['year']})" if r["year"] else "") + f" — {r['reason']}"
        for k, r in enumerate(recs, 1))
    assert all(r["reason"] for r in recs)  # a client without cards reads each reason here
    assert content.endswith("\n\n" + expected)
    assert not re.search(r"\bcards?\b|below", content.split("\n\n")[0], re.I)


def test_unknown_model_is_404_and_models_can_be_retrieved(oai: openai.OpenAI,
                                                         live_server: LiveServer) -> None:
    assert oai.models.retrieve("recagent").id == "recagent"
    for unknown in ("gpt-4o", "openai/gpt-4o"):
        with pytest.raises(openai.NotFoundError) as info:
            oai.models.retrieve(unknown)
        assert info.value.code == "model_not_found" and info.value.param == "model"
    with pytest.raises(openai.NotFoundError) as chat:
        oai.chat.completions.create(model="gpt-4o",
                                    messages=[{"role": "user", "content": "westerns"}])
    assert chat.value.code == "model_not_found" and chat.value.param == "model"
    raw = httpx.post(f"{live_server.url}/v1/chat/completions", timeout=30, json={
        "model": "nope", "messages": [{"role": "user", "content": "hi"}]})
    assert raw.status_code == 404
    assert raw.json() == {"error": {
        "message": raw.json()["error"]["message"], "type": "invalid_request_error",
        "code": "model_not_found", "param": "model"}}


def test_max_tokens_truncates_with_finish_reason_length(oai: openai.OpenAI,
                                                        live_server: LiveServer) -> None:
    ask: Any = [{"role": "user", "content": "romantic comedies"}]
    full = oai.chat.completions.create(model="recagent", messages=ask)
    cut = oai.chat.completions.create(model="recagent", messages=ask, max_tokens=5)
    full_text = full.choices[0].message.content or ""
    cut_text = cut.choices[0].message.content or ""
    assert full.choices[0].finish_reason == "stop"
    assert cut.choices[0].finish_reason == "length"
    assert cut_text and full_text.startswith(cut_text) and len(cut_text) < len(full_text)
    assert count_tokens(cut_text) <= 5 and cut.usage is not None
    assert cut.usage.completion_tokens == count_tokens(cut_text)
    streamed = list(oai.chat.completions.create(model="recagent", messages=ask, stream=True,
                                                max_completion_tokens=5))
    text = "".join(c.choices[0].delta.content or "" for c in streamed)
    assert text == cut_text and streamed[-1].choices[0].finish_reason == "length"
    lc = _chat(live_server, max_tokens=5).invoke([HumanMessage("romantic comedies")])
    assert lc.content == cut_text and lc.response_metadata["finish_reason"] == "length"


def test_parameters_refused_or_accepted(oai: openai.OpenAI) -> None:
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "horror films"}]
    with pytest.raises(openai.BadRequestError) as n:
        oai.chat.completions.create(model="recagent", messages=ask, n=2)
    assert n.value.code == "unsupported_value" and n.value.param == "n"
    assert "n must be 1" in n.value.message
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as tools:
        oai.chat.completions.create(model="recagent", messages=ask, tools=[tool])  # type: ignore[list-item]
    assert tools.value.param == "tools" and "function calling" in tools.value.message
    with pytest.raises(openai.BadRequestError) as choice:
        oai.chat.completions.create(model="recagent", messages=ask, tool_choice="required")
    assert choice.value.param == "tool_choice"
    with pytest.raises(openai.BadRequestError) as fmt:
        oai.chat.completions.create(model="recagent", messages=ask,
                                    response_format={"type": "json_object"})
    assert fmt.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as temp:
        oai.chat.completions.create(model="recagent", messages=ask, temperature=3)
    assert temp.value.param == "temperature"
    plain = oai.chat.completions.create(model="recagent", messages=ask, n=1,
                                        response_format={"type": "text"})
    tuned = oai.chat.completions.create(model="recagent", messages=ask, temperature=1.5,
                                        top_p=0.5, seed=7)
    assert plain.choices[0].message.content == tuned.choices[0].message.content
    content = plain.choices[0].message.content or ""
    stopped = oai.chat.completions.create(model="recagent", messages=ask, stop=["\n\n1. "])
    assert stopped.choices[0].message.content == content.split("\n\n1. ")[0]


OPEN_WEBUI_TITLE = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Guidelines:
- The title should clearly represent the main theme or subject of the conversation.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: {first}
ASSISTANT: {reply}
</chat_history>"""

LIBRECHAT_STYLE_TAGS = """Categorise this conversation with 1-3 broad tags.
Return JSON like {{"tags": ["tag1"]}}.

||>User:
{first}
||>Assistant:
{reply}"""


def test_background_prompts_get_a_plain_answer_and_leave_the_session(
        oai: openai.OpenAI, live_server: LiveServer) -> None:
    user = "faye-" + uuid.uuid4().hex[:8]
    history: Any = [{"role": "user", "content": "heist movies like Heat"}]
    first = oai.chat.completions.create(model="recagent", messages=history, user=user)
    assert first.model_extra is not None
    sid = first.model_extra["session_id"]
    reply = first.choices[0].message.content or ""
    for template in (OPEN_WEBUI_TITLE, LIBRECHAT_STYLE_TAGS):
        prompt = template.replace("{first}", "heist movies like Heat").replace(
            "{reply}", reply).replace("{{", "{").replace("}}", "}")
        raw = oai.chat.completions.with_raw_response.create(
            model="recagent", user=user, messages=[{"role": "user", "content": prompt}])
        done = raw.parse()
        assert "x-session-id" not in raw.headers
        assert done.model_extra is not None and "recommendations" not in done.model_extra
        answer = json.loads(done.choices[0].message.content or "")
        if "title" in answer:
            assert answer == {"title": "Heist Movies Like Heat"}
        else:
            assert answer["tags"] and all(isinstance(t, str) for t in answer["tags"])
    streamed = list(oai.chat.completions.create(
        model="recagent", stream=True, user=user,
        messages=[{"role": "user", "content": OPEN_WEBUI_TITLE.replace(
            "{first}", "heist movies like Heat").replace("{reply}", reply)}]))
    assert json.loads("".join(c.choices[0].delta.content or "" for c in streamed))["title"]
    # the session saw none of it; the conversation continues where it was
    assert len(_session(live_server, sid, user)["messages"]) == 2
    history += [{"role": "assistant", "content": reply},
                {"role": "user", "content": "more like those"}]
    second = oai.chat.completions.create(model="recagent", messages=history, user=user)
    assert second.model_extra is not None and second.model_extra["session_id"] == sid
    # a person's message that mentions a title is a normal turn
    normal = oai.chat.completions.create(model="recagent", user=user, messages=[
        {"role": "user", "content": "what is the title of that heist movie with De Niro?"}])
    assert normal.model_extra is not None and "session_id" in normal.model_extra


def test_stream_errors_and_shape_over_raw_sse(live_server: LiveServer) -> None:
    r = httpx.post(f"{live_server.url}/v1/chat/completions", timeout=30, json={
        "model": "recagent", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "documentaries"}]})
    assert r.status_code == 200 and r.headers["x-session-id"]
    events = parse_sse(r.text)
    assert events[-1] == ("message", "[DONE]")
    usage = events[-2][1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    bad = httpx.post(f"{live_server.url}/v1/chat/completions", timeout=30,
                     content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "code", "param"}


def test_conversations_continue_across_workers_with_redis(
        make_settings: Callable[..., Settings]) -> None:
    """Two servers sharing Redis (as two workers do): each turn may land on either."""
    from api.app import create_app

    settings = make_settings(redis_url=REDIS_URL)
    servers = [LiveServer(create_app(settings)).start() for _ in range(2)]
    try:
        user = "hal-" + uuid.uuid4().hex[:8]
        history: Any = []
        sids = set()
        for turn, text in enumerate(["crime dramas", "more like those", "from the 1970s"]):
            history.append({"role": "user", "content": text})
            with openai.OpenAI(base_url=servers[turn % 2].url + "/v1", api_key="k",
                               max_retries=0, timeout=30) as client:
                done = client.chat.completions.create(model="recagent", messages=history,
                                                      user=user)
            assert done.model_extra is not None
            sids.add(done.model_extra["session_id"])
            history.append({"role": "assistant", "content": done.choices[0].message.content})
        assert len(sids) == 1
        assert len(_session(servers[0], sids.pop(), user)["messages"]) == 6
    finally:
        for server in servers:
            server.stop()


def test_replaced_llm_reply_is_never_shown_half_old_half_new(
        make_settings: Callable[..., Settings]) -> None:
    """An LLM responder names an item it did not recommend; the agent's reply check replaces
    the reply. Streamed, the client sees only the replacement (never the rejected text)."""
    import asyncio

    from agent.testing import ScriptedChatModel, plan
    from api.app import create_app
    from recagent.runtime import build_runtime

    comedies = plan(("filter_items", {"categories_all": ["Comedy"], "year_min": 1990,
                                      "year_max": 1999}),
                    ("rank_by_popularity", {"by": "popularity"}))
    rejected = "You will love The Shawshank Redemption and Heat!"
    good = "Here are some light comedies from the nineties."
    model = ScriptedChatModel(script=[comedies, rejected, comedies, good])
    settings = make_settings()
    runtime = asyncio.run(build_runtime(settings, llm=model))
    server = LiveServer(create_app(settings, runtime=runtime)).start()
    try:
        key = _key()
        with openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0,
                           timeout=30) as client:
            ask: Any = [{"role": "user", "content": "90s comedies"}]
            chunks = list(client.chat.completions.create(model="recagent", messages=ask,
                                                         stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            assert chunks[-1].model_extra is not None
            recs = chunks[-1].model_extra["recommendations"]
            assert "Shawshank" not in text and recs and recs[0]["title"] in text
            session = _session(server, chunks[-1].model_extra["session_id"], key=key)
            assert session["messages"][-1]["content"] in text  # the template, whole
            accepted = list(client.chat.completions.create(model="recagent", messages=ask,
                                                           stream=True))
            assert "".join(c.choices[0].delta.content or "" for c in accepted).startswith(
                good)
    finally:
        server.stop()
        asyncio.run(runtime.aclose())
