"""The widget and identity (docs/service.md, Identity), in headless Chromium against a real
uvicorn server with a widget secret:

- a signed-in user: the host page carries ``data-user-id`` and the ``data-user-token`` its
  backend made (HMAC-SHA256 with the widget secret); the widget sends the token as
  ``X-User-Token`` and the session becomes that user's;
- an anonymous visitor of a page on *another origin*: no cookie crosses origins, so the
  widget keeps the session's claim (``X-Session-Token``) next to the session id and the
  conversation survives a reload -- and stays unreachable without the token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api.identity import user_token
from tests.api.support import LiveServer, free_port, trained_models

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "e2e-widget-secret-" + "z" * 20
# a host site on another origin (localhost vs 127.0.0.1: both loopback -- Chromium lets a
# loopback page call a loopback API -- but different origins: no cookie crosses)
HOST_PORT = free_port()
HOST_ORIGIN = f"http://localhost:{HOST_PORT}"


@pytest.fixture(scope="module")
def signed_server(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[LiveServer]:
    from api.app import create_app
    from recagent.settings import load_settings

    models = trained_models(ml_sqlite_url, tmp_path_factory.mktemp("e2e-id-models") / "models")
    settings = load_settings(database_url=ml_sqlite_url, model_dir=models, redis_url=None,
                             llm="rules", rate_limit_per_minute=0, plugins=[],
                             widget_secret=SECRET, cors_origins=[HOST_ORIGIN])
    server = LiveServer(create_app(settings)).start()
    yield server
    server.stop()


def _host_page(server: LiveServer, user: str, token: str) -> str:
    """What the host site renders for its signed-in user (served on the service's origin)."""
    return (f'<!doctype html><html><body><h1>Host site</h1>'
            f'<script src="/widget.js" data-open="true" data-user-id="{user}" '
            f'data-user-token="{token}" defer></script></body></html>')


def test_a_signed_in_user_owns_the_widget_session(browser: Any,
                                                  signed_server: LiveServer) -> None:
    user = "wendy"
    token = user_token(SECRET, user)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route(signed_server.url + "/host.html", lambda route: route.fulfill(
        status=200, content_type="text/html", body=_host_page(signed_server, user, token)))
    sent: list[Any] = []
    page.on("request", lambda req: sent.append(req) if "/v1/chat/stream" in req.url else None)
    page.goto(signed_server.url + "/host.html")
    page.get_by_label("Your message").fill("a 90s thriller like Heat")
    page.get_by_label("Your message").press("Enter")
    page.wait_for_function(
        """() => {
          const p = document.querySelector('#recagent-widget').shadowRoot.querySelector('.panel');
          return Number(p.getAttribute('data-turns') || 0) >= 1
            && p.getAttribute('aria-busy') === 'false';
        }""", timeout=30_000)
    assert sent and sent[0].headers.get("x-user-token") == token
    assert page.locator("#recagent-widget >> .card").count() >= 3
    session_id = page.evaluate(
        "ep => sessionStorage.getItem('recagent-session:' + ep)", signed_server.url)
    url = f"{signed_server.url}/v1/sessions/{session_id}"
    mine = httpx.get(url, headers={"X-User-Id": user, "X-User-Token": token})
    assert mine.status_code == 200 and mine.json()["user_id"] == user
    assert len(mine.json()["messages"]) == 2
    other = "mallory"
    assert httpx.get(url, headers={"X-User-Id": other, "X-User-Token": user_token(
        SECRET, other)}).status_code == 404
    assert httpx.get(url).status_code == 404
    page.close()


def _panel_text(page: Any) -> str:
    return str(page.evaluate(
        "() => document.querySelector('#recagent-widget').shadowRoot.textContent"))


def _wait_turn(page: Any, n: int) -> None:
    page.wait_for_function(
        """n => {
          const p = document.querySelector('#recagent-widget').shadowRoot.querySelector('.panel');
          return Number(p.getAttribute('data-turns') || 0) >= n
            && p.getAttribute('aria-busy') === 'false';
        }""", arg=n, timeout=30_000)


@pytest.fixture(scope="module")
def shop_site(signed_server: LiveServer) -> Iterator[str]:
    """The host site: a page embedding the widget of the service on its own origin."""
    api = signed_server.url
    page = (f'<!doctype html><html><body><h1>Shop</h1><script src="{api}/widget.js" '
            f'data-endpoint="{api}" data-open="true" defer></script></body></html>').encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", HOST_PORT), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HOST_ORIGIN + "/shop.html"
    server.shutdown()
    server.server_close()


def test_an_anonymous_conversation_survives_a_reload_on_another_origin(
        browser: Any, signed_server: LiveServer, shop_site: str) -> None:
    api = signed_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sent: list[Any] = []
    page.on("request", lambda req: sent.append(req) if "/v1/chat/stream" in req.url else None)
    page.goto(shop_site)
    page.get_by_label("Your message").fill("a 90s thriller like Heat")
    page.get_by_label("Your message").press("Enter")
    _wait_turn(page, 1)
    stored = "k => sessionStorage.getItem(k)"
    session_id = page.evaluate(stored, "recagent-session:" + api)
    token = page.evaluate(stored, "recagent-token:" + api)
    assert session_id and token, (session_id, token)

    page.reload()  # the conversation is restored through the token, not a cookie
    page.wait_for_function(
        "() => document.querySelector('#recagent-widget').shadowRoot.textContent"
        ".includes('a 90s thriller like Heat')", timeout=30_000)
    page.get_by_label("Your message").fill("something lighter")
    page.get_by_label("Your message").press("Enter")
    _wait_turn(page, 1)
    assert "went wrong" not in _panel_text(page)
    assert page.evaluate(stored, "recagent-session:" + api) == session_id  # not a new one
    assert sent[-1].headers.get("x-session-token") == token

    url = f"{api}/v1/sessions/{session_id}"
    mine = httpx.get(url, headers={"X-Session-Token": token})
    assert mine.status_code == 200 and len(mine.json()["messages"]) == 4
    assert httpx.get(url).status_code == 404  # the id alone reaches nothing
    page.close()
