"""CORS from settings; the OpenAPI document; the widget and demo page are served."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from api.app import create_app
from recagent.runtime import Runtime
from recagent.settings import Settings
from tests.api.support import asgi_client

SHOP = "https://shop.example"


async def test_cors_allows_only_the_configured_origins(
    make_settings: Callable[..., Settings], shared_runtime: Runtime,
) -> None:
    app = create_app(make_settings(cors_origins=[SHOP]), runtime=shared_runtime)
    async with asgi_client(app) as client:
        pre = await client.options("/v1/chat/stream", headers={
            "Origin": SHOP, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == SHOP
        r = await client.post("/v1/chat", json={"message": "a comedy"}, headers={"Origin": SHOP})
        assert r.headers["access-control-allow-origin"] == SHOP
        assert "X-Session-ID" in r.headers["access-control-expose-headers"]
        evil = await client.options("/v1/chat/stream", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in evil.headers
        # errors carry the CORS headers too, so the browser can read the envelope
        r = await client.post("/v1/chat", json={}, headers={"Origin": SHOP})
        assert r.status_code == 422 and r.headers["access-control-allow-origin"] == SHOP


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/chat", json={"message": "a comedy"},
                          headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in r.headers


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/chat", "/v1/chat/stream", "/v1/chat/completions",
                 "/v1/sessions/{session_id}", "/v1/sessions/{session_id}/feedback",
                 "/v1/items", "/v1/items/{item_id}", "/v1/tools", "/v1/admin/reload",
                 "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    chat = spec["paths"]["/v1/chat"]["post"]
    assert "TurnResult" in str(chat["responses"]["200"])
    assert (await client.get("/docs")).status_code == 200


async def test_demo_page_embeds_the_widget(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js"' in page.text
    js = await client.get("/widget.js")
    assert js.status_code == 200
    urls = re.findall(r"https?://[^\s\"')]+", js.text)
    assert all("your-host" in u for u in urls), urls  # only the usage example: no CDN
    assert "attachShadow" in js.text and "getReader" in js.text


async def test_openapi_documents_every_error_status_with_the_envelope(
        client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("/v1/chat", "post"): {401, 403, 404, 409, 413, 422, 429, 503},
        ("/v1/chat/stream", "post"): {401, 403, 404, 409, 413, 422, 429, 503},
        ("/v1/sessions/{session_id}", "get"): {401, 403, 404, 422, 429, 503},
        ("/v1/sessions/{session_id}", "delete"): {401, 403, 404, 422, 429, 503},
        ("/v1/sessions/{session_id}/feedback", "post"): {401, 403, 404, 409, 413, 422, 429,
                                                         503},
        ("/v1/items/{item_id}", "get"): {401, 404, 422, 429, 503},
        ("/v1/admin/ingest", "post"): {401, 403, 409, 413, 422, 429, 503},
        ("/v1/chat/completions", "post"): {400, 401, 403, 404, 409, 413, 429, 503},
        ("/readyz", "get"): {503},
    }
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert statuses <= {int(s) for s in responses if s.isdigit()}, (path, method)
        for status in statuses:
            ref = str(responses[str(status)]["content"]["application/json"]["schema"])
            envelope = "OpenAIErrorEnvelope" if path == "/v1/chat/completions" \
                else "ErrorEnvelope"
            assert ref.endswith(f"/{envelope}'}}"), (path, method, status, ref)
    # the OpenAI-compatible facade refuses invalid requests with 400, like OpenAI: no 422
    assert "422" not in paths["/v1/chat/completions"]["post"]["responses"]
    # the request model says what the handler refuses: a blank or over-long message
    message = spec["components"]["schemas"]["ChatRequest"]["properties"]["message"]
    assert message["minLength"] == 1 and message["pattern"] == r"\S"
    assert message["maxLength"] == 500  # RECAGENT_MAX_MESSAGE_CHARS of this app
    assert "x-recagent-message" not in str(spec)
    # continuing an anonymous session by its id alone is a 404: the field says so
    session_id = spec["components"]["schemas"]["ChatRequest"]["properties"]["session_id"]
    assert "X-Session-Token" in session_id["description"]
    assert "X-Session-Token" in paths["/v1/chat"]["post"]["responses"]["404"]["description"]


async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/sessions/abc")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert set(r.headers["allow"].split(", ")) == {"GET", "DELETE"}
