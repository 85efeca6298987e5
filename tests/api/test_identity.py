"""Identity (issue 13): API keys with tenants, HMAC-verified widget user ids, anonymous
browser tokens, one owner per session on both session stores, the OpenAI facade, and the
refusal to serve unauthenticated on a non-loopback address."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from api.identity import TOKEN_COOKIE, user_token
from recagent.settings import Settings
from tests.api.support import asgi_client, free_port
from tests.conftest import REDIS_URL

if TYPE_CHECKING:
    from recagent.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
KEY_A = "key-a-" + "a" * 24  # tenant shop-a
KEY_A2 = "key-a2-" + "b" * 24  # tenant shop-a, a second key
KEY_B = "key-b-" + "c" * 24  # tenant shop-b
SECRET = "widget-secret-" + "d" * 24
KEYS = f"shop-a:{KEY_A},shop-a:{KEY_A2},shop-b:{KEY_B}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def app_client(runtime: Runtime, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of an app with ``settings`` around the shared ``runtime``."""
    from api.app import create_app

    async with asgi_client(create_app(settings, runtime=runtime)) as c:
        yield c


@pytest.fixture
async def keyed(shared_runtime: Runtime,
                make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """Keys only: a server-to-server deployment."""
    async with app_client(shared_runtime, make_settings(api_keys=KEYS)) as c:
        yield c


@pytest.fixture
async def both(shared_runtime: Runtime,
               make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """Keys and a widget secret: servers and browsers."""
    async with app_client(shared_runtime,
                          make_settings(api_keys=KEYS, widget_secret=SECRET)) as c:
        yield c


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def both_stores(
    request: pytest.FixtureRequest, shared_runtime: Runtime,
    make_settings: Callable[..., Settings], redis_prefix: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``both``, once with in-process sessions and once with the real Redis store."""
    if request.param == "memory":
        async with app_client(shared_runtime,
                              make_settings(api_keys=KEYS, widget_secret=SECRET)) as c:
            yield c
        return
    from recagent.runtime import build_runtime

    settings = make_settings(redis_url=REDIS_URL, api_keys=KEYS, widget_secret=SECRET)
    runtime = await build_runtime(settings, session_prefix=redis_prefix)
    try:
        async with app_client(runtime, settings) as c:
            yield c
    finally:
        await runtime.aclose()
        sync = redis.Redis.from_url(REDIS_URL)
        keys = list(sync.scan_iter(match=redis_prefix + "*"))
        if keys:
            sync.delete(*keys)
        sync.close()


def fresh(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app seen from another browser: no cookies."""
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver",
                             timeout=30)


# ---- keys -------------------------------------------------------------------------------

def test_keys_are_kept_only_as_digests(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(api_keys=f"{KEYS},plain-default-key-0123456789,"
                                      f"t9:sha256:{hashlib.sha256(b'x' * 20).hexdigest()}")
    dumped = repr(settings) + repr(settings.model_dump())
    for key in (KEY_A, KEY_A2, KEY_B, "plain-default-key-0123456789"):
        assert key not in dumped
    assert ("shop-a", hashlib.sha256(KEY_A.encode()).hexdigest()) in settings.api_keys
    assert ("default", hashlib.sha256(b"plain-default-key-0123456789").hexdigest()) \
        in settings.api_keys
    assert ("t9", hashlib.sha256(b"x" * 20).hexdigest()) in settings.api_keys


@pytest.mark.parametrize("field,value,variable", [
    ("api_keys", "shop:short", "RECAGENT_API_KEYS"),
    ("api_keys", "bad tenant!:" + "k" * 20, "RECAGENT_API_KEYS"),
    ("widget_secret", "short", "RECAGENT_WIDGET_SECRET"),
])
def test_unusable_identity_settings_name_the_variable(field: str, value: str,
                                                      variable: str) -> None:
    from recagent.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=variable) as caught:
        load_settings(**{field: value})
    assert value not in str(caught.value)


async def test_v1_needs_a_valid_key_and_the_rest_stays_open(
    keyed: httpx.AsyncClient,
) -> None:
    for headers in ({}, bearer("wrong-key-0123456789abcdef"), {"Authorization": KEY_A},
                    {"Authorization": f"Basic {KEY_A}"}):
        for method, path, body in (("POST", "/v1/chat", {"message": "comedies"}),
                                   ("GET", "/v1/items", None), ("GET", "/v1/tools", None),
                                   ("GET", "/v1/sessions/abc", None)):
            r = await keyed.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["error"]["code"] == "unauthorized"
    for path in ("/healthz", "/readyz", "/metrics", "/", "/widget.js"):
        assert (await keyed.get(path)).status_code == 200, path
    r = await keyed.post("/v1/chat", json={"message": "comedies"}, headers=bearer(KEY_A))
    assert r.status_code == 200, r.text


async def test_a_tenant_acts_for_its_users_and_no_other_tenant_sees_them(
    both_stores: httpx.AsyncClient,
) -> None:
    keyed = both_stores
    user = "alice-" + uuid.uuid4().hex[:6]
    r = await keyed.post("/v1/chat", json={"message": "90s thrillers", "user_id": user},
                         headers=bearer(KEY_A))
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    item = r.json()["recommendations"][0]["item_id"]
    q = {"user_id": user}
    # another key of the same tenant acts for the same user
    assert (await keyed.get(f"/v1/sessions/{sid}", params=q,
                            headers=bearer(KEY_A2))).status_code == 200
    unknown = (await keyed.get("/v1/sessions/nope", params=q, headers=bearer(KEY_B))).json()
    # the other tenant, same user id: exactly like an unknown session, on every route
    h = bearer(KEY_B)
    answers = [
        await keyed.get(f"/v1/sessions/{sid}", params=q, headers=h),
        await keyed.post("/v1/chat", json={"message": "more", "session_id": sid,
                                           "user_id": user}, headers=h),
        await keyed.post("/v1/chat/stream", json={"message": "more", "session_id": sid,
                                                  "user_id": user}, headers=h),
        await keyed.post(f"/v1/sessions/{sid}/feedback",
                         json={"item_id": item, "signal": "like", "user_id": user}, headers=h),
        await keyed.delete(f"/v1/sessions/{sid}", params=q, headers=h),
        # the same tenant without the user
        await keyed.get(f"/v1/sessions/{sid}", headers=bearer(KEY_A)),
    ]
    for answer in answers:
        assert answer.status_code == 404 and answer.json() == unknown, answer.text
    s = await keyed.get(f"/v1/sessions/{sid}", params=q, headers=bearer(KEY_A))
    assert s.status_code == 200 and len(s.json()["messages"]) == 2 and s.json()["feedback"] == []


# ---- widget (HMAC) ------------------------------------------------------------------------

async def test_long_term_profiles_are_per_tenant(both_stores: httpx.AsyncClient) -> None:
    """What ``alice`` of shop-a liked never reaches ``alice`` of shop-b (nor the reverse);
    it does reach shop-a's ``alice`` in her next session, on either session store."""
    client = both_stores
    user = "alice-" + uuid.uuid4().hex[:6]

    async def new_session(key: str) -> dict[str, Any]:
        r = await client.post("/v1/chat", json={"message": "90s thrillers", "user_id": user},
                              headers=bearer(key))
        assert r.status_code == 200, r.text
        s = await client.get(f"/v1/sessions/{r.json()['session_id']}",
                             params={"user_id": user}, headers=bearer(key))
        assert s.status_code == 200 and s.json()["user_id"] == user  # not "shop-a/..."
        return {"id": r.json()["session_id"], "items": r.json()["recommendations"],
                "profile": s.json()["profile"]}

    first = await new_session(KEY_A)
    liked = first["items"][0]["item_id"]
    r = await client.post(f"/v1/sessions/{first['id']}/feedback",
                          json={"item_id": liked, "signal": "like", "user_id": user},
                          headers=bearer(KEY_A))
    assert r.status_code == 200, r.text
    assert liked in (await new_session(KEY_A2))["profile"]["liked"]  # same tenant
    assert liked not in (await new_session(KEY_B))["profile"]["liked"]  # another tenant


def test_user_token_is_the_documented_hmac() -> None:
    import hmac

    assert user_token(SECRET, "alice") == hmac.new(SECRET.encode(), b"alice",
                                                   hashlib.sha256).hexdigest()


async def test_browsers_prove_a_user_id_with_the_hmac(both: httpx.AsyncClient) -> None:
    user = "bea-" + uuid.uuid4().hex[:6]
    token = user_token(SECRET, user)
    ok = await both.post("/v1/chat", json={"message": "westerns", "user_id": user,
                                           "user_token": token})
    assert ok.status_code == 200, ok.text
    sid = ok.json()["session_id"]
    by_header = await both.get(f"/v1/sessions/{sid}",
                               headers={"X-User-Id": user, "X-User-Token": token})
    assert by_header.status_code == 200 and by_header.json()["user_id"] == user
    refused = {
        "no token": await both.post("/v1/chat", json={"message": "x", "user_id": user}),
        "wrong token": await both.post("/v1/chat", json={
            "message": "x", "user_id": user, "user_token": user_token(SECRET, user + "x")}),
        "other secret": await both.post("/v1/chat", json={
            "message": "x", "user_id": user, "user_token": user_token(SECRET + "x", user)}),
        "query user, no token": await both.get(f"/v1/sessions/{sid}",
                                               params={"user_id": user}),
        "header mismatch": await both.post("/v1/chat", json={
            "message": "x", "user_id": user, "user_token": token},
            headers={"X-User-Id": "mallory"}),
    }
    codes = {name: (r.status_code, r.json()["error"]["code"]) for name, r in refused.items()}
    assert codes == {"no token": (403, "identity_required"),
                     "wrong token": (403, "invalid_user_token"),
                     "other secret": (403, "invalid_user_token"),
                     "query user, no token": (403, "identity_required"),
                     "header mismatch": (403, "identity_mismatch")}


async def test_keys_only_an_unkeyed_user_id_is_refused(
    shared_runtime: Runtime, make_settings: Callable[..., Settings],
) -> None:
    async with app_client(shared_runtime, make_settings(widget_secret=SECRET)) as c:
        r = await c.post("/v1/chat", json={"message": "x", "user_id": "alice"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "identity_required"
        assert (await c.post("/v1/chat", json={"message": "comedies"})).status_code == 200


# ---- anonymous sessions -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["trusted", "verified"])
async def test_an_anonymous_session_belongs_to_its_browser_token(
    mode: str, shared_runtime: Runtime, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings() if mode == "trusted" else make_settings(
        api_keys=KEYS, widget_secret=SECRET)
    async with app_client(shared_runtime, settings) as owner:
        r = await owner.post("/v1/chat", json={"message": "space adventures"})
        assert r.status_code == 200, r.text
        sid, token = r.json()["session_id"], r.headers["x-session-token"]
        assert owner.cookies.get(TOKEN_COOKIE) == token  # the browser keeps it as a cookie
        item = r.json()["recommendations"][0]["item_id"]
        async with fresh(owner) as stranger:  # holds the leaked id, not the token
            assert (await stranger.get(f"/v1/sessions/{sid}")).status_code == 404
            more = await stranger.post("/v1/chat", json={"message": "more", "session_id": sid})
            assert more.status_code == 404
            other = await stranger.post("/v1/chat", json={"message": "comedies"})
            other_token = other.headers["x-session-token"]
            assert other_token != token
            assert (await stranger.get(f"/v1/sessions/{sid}", headers={
                "X-Session-Token": other_token})).status_code == 404
            # the token (header or body field) is what continues it
            assert (await stranger.get(f"/v1/sessions/{sid}", headers={
                "X-Session-Token": token})).status_code == 200
            fb = await stranger.post(f"/v1/sessions/{sid}/feedback", json={
                "item_id": item, "signal": "like", "session_token": token})
            assert fb.status_code == 200, fb.text
        cont = await owner.post("/v1/chat", json={"message": "more", "session_id": sid})
        assert cont.status_code == 200 and "x-session-token" not in cont.headers


async def test_a_script_continuing_by_id_alone_is_told_about_the_token(
    shared_runtime: Runtime, make_settings: Callable[..., Settings],
) -> None:
    """An API user with curl keeps no cookie: the second request names the session id
    only. The 404 points at the missing header — in the very words an unknown id and
    another caller's session get, so it says nothing about whether the session exists."""
    async with app_client(shared_runtime, make_settings()) as first_client:
        r = await first_client.post("/v1/chat", json={"message": "some old westerns"})
        sid, token = r.json()["session_id"], r.headers["x-session-token"]
        async with fresh(first_client) as script:  # the script's next call: no cookie
            by_id = await script.post("/v1/chat", json={"message": "older", "session_id": sid})
            unknown = await script.post("/v1/chat", json={
                "message": "older", "session_id": "no-such-" + uuid.uuid4().hex})
            assert by_id.status_code == unknown.status_code == 404
            assert by_id.json() == unknown.json() == {"error": {
                "code": "session_not_found",
                "message": "no such session (unknown or expired; an anonymous session also needs "
                           "the X-Session-Token header from its first answer)"}}
            ok = await script.post("/v1/chat", json={"message": "older", "session_id": sid},
                                   headers={"X-Session-Token": token})
            assert ok.status_code == 200 and ok.json()["session_id"] == sid, ok.text


async def test_claiming_an_anonymous_session_needs_its_token(
    both_stores: httpx.AsyncClient,
) -> None:
    """The issue's take-over: an id holder chatting with a user id. Refused without the
    token; with it the session becomes the user's, and invisible to the token alone."""
    both = both_stores
    r = await both.post("/v1/chat", json={"message": "heist movies"})
    sid, token = r.json()["session_id"], r.headers["x-session-token"]
    mallory, alice = "mal-" + uuid.uuid4().hex[:6], "ali-" + uuid.uuid4().hex[:6]
    async with fresh(both) as thief:
        take = await thief.post("/v1/chat", json={
            "message": "more", "session_id": sid, "user_id": mallory,
            "user_token": user_token(SECRET, mallory)})
        assert take.status_code == 404
        took = await thief.post("/v1/chat", json={
            "message": "more", "session_id": sid, "user_id": "m2",
            "user_token": user_token(SECRET, "m2")}, headers=bearer(KEY_A))
        assert took.status_code == 404  # a key of a tenant does not claim a browser's session
    claim = await both.post("/v1/chat", json={
        "message": "more", "session_id": sid, "user_id": alice,
        "user_token": user_token(SECRET, alice)})
    assert claim.status_code == 200, claim.text
    # the token alone (cookie or header) no longer reaches it
    assert (await both.get(f"/v1/sessions/{sid}")).status_code == 404
    async with fresh(both) as holder:
        assert (await holder.get(f"/v1/sessions/{sid}", headers={
            "X-Session-Token": token})).status_code == 404
    alice_h = {"X-User-Id": alice, "X-User-Token": user_token(SECRET, alice)}
    async with fresh(both) as elsewhere:  # alice on another device: no token needed
        s = await elsewhere.get(f"/v1/sessions/{sid}", headers=alice_h)
        assert s.status_code == 200 and s.json()["user_id"] == alice
        assert len(s.json()["messages"]) == 4


# ---- the OpenAI-compatible facade ---------------------------------------------------------

async def test_facade_needs_the_key_and_scopes_conversations_by_tenant(
    both: httpx.AsyncClient,
) -> None:
    ask = {"model": "recagent", "user": "carl",
           "messages": [{"role": "user", "content": "a 90s thriller like Heat"}]}
    for path, body in (("/v1/chat/completions", ask), ("/v1/models", None)):
        r = await both.request("POST" if body else "GET", path, json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "invalid_api_key"  # OpenAI's shape
        assert r.json()["error"]["type"] == "invalid_request_error"
    first = await both.post("/v1/chat/completions", json=ask, headers=bearer(KEY_A))
    assert first.status_code == 200, first.text
    sid = first.headers["x-session-id"]
    follow = {**ask, "messages": [*ask["messages"], first.json()["choices"][0]["message"],
                                  {"role": "user", "content": "less violent"}]}
    # the same history and user from another tenant is another conversation ...
    other = await both.post("/v1/chat/completions", json=follow, headers=bearer(KEY_B))
    assert other.status_code == 200 and other.headers["x-session-id"] != sid
    # ... and naming the session explicitly is a 404
    named = await both.post("/v1/chat/completions", json=follow,
                            headers={**bearer(KEY_B), "X-Session-ID": sid})
    assert named.status_code == 404 and named.json()["error"]["code"] == "session_not_found"
    # the owning tenant continues it
    mine = await both.post("/v1/chat/completions", json=follow, headers=bearer(KEY_A2))
    assert mine.status_code == 200 and mine.headers["x-session-id"] == sid


@pytest.mark.slow
def test_the_openai_sdk_against_a_keyed_server(make_settings: Callable[..., Settings]) -> None:
    """A real uvicorn server and the real ``openai`` client: a wrong key is the SDK's
    AuthenticationError; a right one chats and continues its conversation."""
    import openai

    from api.app import create_app
    from tests.api.support import LiveServer

    server = LiveServer(create_app(make_settings(api_keys=KEYS))).start()
    try:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong-0123456789abcdef",
                           max_retries=0, timeout=30) as bad, \
                pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="recagent", messages=[
                {"role": "user", "content": "comedies"}])
        with openai.OpenAI(base_url=server.url + "/v1", api_key=KEY_A, max_retries=0,
                           timeout=30) as good:
            history: Any = [{"role": "user", "content": "comedies from the 1980s"}]
            first = good.chat.completions.create(model="recagent", messages=history,
                                                 user="erin")
            assert first.model_extra is not None
            sid = first.model_extra["session_id"]
            history += [{"role": "assistant", "content": first.choices[0].message.content},
                        {"role": "user", "content": "more like those"}]
            again = good.chat.completions.create(model="recagent", messages=history,
                                                 user="erin")
            assert again.model_extra is not None and again.model_extra["session_id"] == sid
        for key, status in ((KEY_A2, 200), (KEY_B, 404)):
            r = httpx.get(f"{server.url}/v1/sessions/{sid}", params={"user_id": "erin"},
                          headers=bearer(key), timeout=30)
            assert r.status_code == status
    finally:
        server.stop()


# ---- Redis sessions -----------------------------------------------------------------------

@pytest.mark.redis
async def test_owners_live_next_to_redis_sessions(
    make_settings: Callable[..., Settings], redis_prefix: str,
) -> None:
    from api.app import create_app
    from recagent.runtime import build_runtime

    settings = make_settings(redis_url=REDIS_URL, api_keys=KEYS, widget_secret=SECRET)
    runtime = await build_runtime(settings, session_prefix=redis_prefix)
    sync = redis.Redis.from_url(REDIS_URL)
    try:
        async with asgi_client(create_app(settings, runtime=runtime)) as c:
            a = await c.post("/v1/chat", json={"message": "musicals", "user_id": "dora"},
                             headers=bearer(KEY_A))
            assert a.status_code == 200, a.text
            sid = a.json()["session_id"]
            assert sync.get(f"{redis_prefix}owner:{sid}") == b"t:shop-a|u:dora"
            ttl = sync.ttl(f"{redis_prefix}owner:{sid}")
            assert 0 < ttl <= settings.session_ttl_s
            assert (await c.get(f"/v1/sessions/{sid}", params={"user_id": "dora"},
                                headers=bearer(KEY_B))).status_code == 404
            assert (await c.get(f"/v1/sessions/{sid}", params={"user_id": "dora"},
                                headers=bearer(KEY_A))).status_code == 200
            anon = await c.post("/v1/chat", json={"message": "cartoons"})
            asid, token = anon.json()["session_id"], anon.headers["x-session-token"]
            bound = sync.get(f"{redis_prefix}owner:{asid}")
            assert bound is not None and token.encode() not in bound  # only a digest
            async with fresh(c) as stranger:
                assert (await stranger.get(f"/v1/sessions/{asid}")).status_code == 404
                assert (await stranger.get(f"/v1/sessions/{asid}", headers={
                    "X-Session-Token": token})).status_code == 200
            # a binding lost (or a session made outside the API) is nobody's: 404
            sync.delete(f"{redis_prefix}owner:{sid}")
            assert (await c.get(f"/v1/sessions/{sid}", params={"user_id": "dora"},
                                headers=bearer(KEY_A))).status_code == 404
    finally:
        await runtime.aclose()
        keys = list(sync.scan_iter(match=redis_prefix + "*"))
        if keys:
            sync.delete(*keys)
        sync.close()


# ---- start-up -----------------------------------------------------------------------------

async def test_start_up_says_in_one_line_whether_user_ids_are_trusted(
    shared_runtime: Runtime, make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for settings, expected in ((make_settings(), "user ids are trusted as sent"),
                               (make_settings(api_keys=KEYS), "3 API key(s)")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="recagent.api"):
            async with app_client(shared_runtime, settings):
                pass
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(
            "identity:")]
        assert len(lines) == 1 and expected in lines[0], lines
        assert KEY_A not in lines[0]


def _serve(host: str, port: int, settings: Settings, command: str = "serve",
           **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
    base.update(RECAGENT_DATABASE_URL=settings.database_url,
                RECAGENT_MODEL_DIR=str(settings.model_dir), RECAGENT_PLUGINS="",
                OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT), **env)
    return subprocess.Popen([sys.executable, "-m", "recagent", command, "--host", host,
                             "--port", str(port)], cwd=ROOT, env=base,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_refuses_a_public_address_without_identity(
    command: str, make_settings: Callable[..., Settings],
) -> None:
    proc = _serve("0.0.0.0", free_port(), make_settings(), command)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "RECAGENT_ALLOW_UNAUTHENTICATED=true" in lines[0], err


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"RECAGENT_ALLOW_UNAUTHENTICATED": "true"},
                                 {"RECAGENT_API_KEYS": KEYS}])
def test_serve_binds_a_public_address_when_told_or_keyed(
    env: dict[str, str], make_settings: Callable[..., Settings],
) -> None:
    import signal
    import time

    port = free_port()
    proc = _serve("0.0.0.0", port, make_settings(), "serve", **env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat", json={"message": "comedies"},
                       timeout=30)
        assert r.status_code == (401 if "RECAGENT_API_KEYS" in env else 200)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()



def _snippet(language: str) -> str:
    """The host-site snippet of docs/service.md's Identity section, in ``language``."""
    text = (ROOT / "docs" / "service.md").read_text()
    section = text[text.index("## Identity"):text.index("## Errors")]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start:section.index("```", start)]


def test_the_documented_python_snippet_makes_the_token_the_service_checks() -> None:
    namespace: dict[str, Any] = {}
    os.environ["RECAGENT_WIDGET_SECRET"] = SECRET
    try:
        exec(_snippet("python"), namespace)  # noqa: S102 - our own documentation
        made = namespace["recagent_user_token"]("alice")
    finally:
        del os.environ["RECAGENT_WIDGET_SECRET"]
    assert made == user_token(SECRET, "alice")


@pytest.mark.skipif(not Path("/usr/bin/node").exists(), reason="node is not installed")
def test_the_documented_node_snippet_makes_the_token_the_service_checks() -> None:
    script = _snippet("js") + '\nprocess.stdout.write(recagentUserToken("alice"));\n'
    env = {**os.environ, "RECAGENT_WIDGET_SECRET": SECRET}
    made = subprocess.run(["/usr/bin/node", "-e", script], env=env, capture_output=True,
                          text=True, timeout=30, check=True).stdout
    assert made == user_token(SECRET, "alice")
