"""The widget of a signed-in user: the host page carries ``data-user-id`` and the
``data-user-token`` its backend made (HMAC-SHA256 with the widget secret); the widget sends
the token as ``X-User-Token`` and the session becomes that user's (docs/service.md,
Identity). Headless Chromium against a real uvicorn server with a widget secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.identity import user_token
from tests.api.support import LiveServer, trained_models

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "e2e-widget-secret-" + "z" * 20


@pytest.fixture(scope="module")
def signed_server(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[LiveServer]:
    from api.app import create_app
    from recagent.settings import load_settings

    models = trained_models(ml_sqlite_url, tmp_path_factory.mktemp("e2e-id-models") / "models")
    settings = load_settings(database_url=ml_sqlite_url, model_dir=models, redis_url=None,
                             llm="rules", rate_limit_per_minute=0, plugins=[],
                             widget_secret=SECRET)
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
