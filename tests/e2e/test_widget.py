"""The chat widget in a real browser against the real server: type, watch the reply stream,
see cards, like one, ask a follow-up, see the like remembered."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.support import LiveServer
from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PANEL = "#recagent-widget >> .panel"
LIKE = re.compile(r"^Like ")


def _turns(page: Any) -> int:
    return int(page.locator(PANEL).get_attribute("data-turns") or 0)


def _wait_turn(page: Any, n: int) -> None:
    page.wait_for_function(
        """n => {
          const p = document.querySelector('#recagent-widget').shadowRoot.querySelector('.panel');
          return Number(p.getAttribute('data-turns') || 0) >= n
            && p.getAttribute('aria-busy') === 'false';
        }""", arg=n, timeout=30_000)


def test_chat_stream_cards_like_and_follow_up(browser: Any, widget_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    streams: list[Any] = []
    page.on("request", lambda req: streams.append(req) if "/v1/chat/stream" in req.url else None)
    page.goto(widget_server.url + "/")

    box = page.get_by_label("Your message")
    assert box.is_visible()  # the demo page opens the panel
    assert box.evaluate("el => el === el.getRootNode().activeElement")  # focus in the input
    box.fill("a 90s thriller like Heat")
    box.press("Enter")
    _wait_turn(page, 1)

    assert len(streams) == 1 and streams[0].headers["accept"] == "text/event-stream"
    bubbles = page.locator("#recagent-widget >> .msg.bot")
    reply = bubbles.last.inner_text()
    assert "ten thriller items from the 1990s" in reply.lower() and "…" not in reply
    assert "card" not in reply.lower()  # the reply says what and why; the cards carry the list
    cards = page.locator("#recagent-widget >> .card")
    assert cards.count() >= 3
    first = cards.first
    title = first.locator("h3").inner_text()
    assert "(199" in title  # title with year, from the 1990s
    assert first.locator(".chips li").count() >= 1
    assert first.locator(".reason").inner_text()
    liked_id = first.get_attribute("data-item-id")

    first.get_by_role("button", name=LIKE).click()
    page.wait_for_function(
        """() => document.querySelector('#recagent-widget').shadowRoot
                 .querySelector('.card.liked') !== null""", timeout=10_000)
    assert first.get_by_role("button", name=LIKE).get_attribute("aria-pressed") == "true"
    assert "Liked" in first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-liked.png"))

    page.get_by_label("Your message").fill("more like that")
    page.get_by_role("button", name="Send").click()
    _wait_turn(page, 2)
    lists = page.locator("#recagent-widget >> ul.cards")
    assert lists.count() == 2
    follow_ids = [c.get_attribute("data-item-id") for c in lists.nth(1).locator(".card").all()]
    assert follow_ids and liked_id not in follow_ids  # the liked item is not offered again
    assert "liked" in (first.get_attribute("class") or "")  # still marked in the history

    session_id = page.evaluate(
        "ep => sessionStorage.getItem('recagent-session:' + ep)", widget_server.url)
    # an anonymous session is bound to the browser's token (its cookie, see api/identity.py)
    owner = {"X-Session-Token": next(c["value"] for c in page.context.cookies()
                                     if c["name"] == "recagent_session_token")}
    assert httpx.get(f"{widget_server.url}/v1/sessions/{session_id}").status_code == 404
    session = httpx.get(f"{widget_server.url}/v1/sessions/{session_id}", headers=owner).json()
    assert session["profile"]["liked"][-1] == liked_id  # the click is recorded last
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2

    page.screenshot(path=str(ARTIFACTS / "widget.png"))

    # keyboard: Escape closes and focuses the launcher; Enter reopens with focus in the input
    page.keyboard.press("Escape")
    launcher = page.get_by_role("button", name="Open the recommendations chat")
    assert launcher.is_visible() and not page.locator(PANEL).is_visible()
    assert launcher.evaluate("el => el === el.getRootNode().activeElement")
    page.keyboard.press("Enter")
    assert page.get_by_label("Your message").is_visible()

    # a reload continues the conversation: history and likes come back from the server
    page.reload()
    page.wait_for_function(
        """() => document.querySelector('#recagent-widget').shadowRoot
                 .querySelectorAll('.msg.user').length === 2""", timeout=10_000)
    assert "Continuing your conversation" in page.locator("#recagent-widget >> .log").inner_text()
    assert page.locator("#recagent-widget >> .msg.bot").count() == 2

    # a new conversation forgets the session on the server and clears the panel
    page.get_by_role("button", name="Start a new conversation").click()
    assert page.locator("#recagent-widget >> .card").count() == 0
    assert _turns(page) == 0
    page.wait_for_timeout(300)
    assert httpx.get(f"{widget_server.url}/v1/sessions/{session_id}",
                     headers=owner).status_code == 404
    page.close()


def test_widget_on_a_narrow_phone_screen(browser: Any, widget_server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True,
                            has_touch=True)
    page.goto(widget_server.url + "/")
    panel = page.locator(PANEL)
    box = panel.bounding_box()
    assert box is not None and box["width"] == 375 and box["x"] == 0  # full screen panel
    page.get_by_label("Your message").fill("animated family movies")
    page.get_by_role("button", name="Send").click()
    _wait_turn(page, 1)
    card = page.locator("#recagent-widget >> .card").first
    cbox = card.bounding_box()
    assert cbox is not None and cbox["x"] >= 0 and cbox["x"] + cbox["width"] <= 375
    send = page.get_by_role("button", name="Send").bounding_box()
    assert send is not None and send["x"] + send["width"] <= 375 and send["height"] >= 40
    no_hscroll = page.evaluate("() => document.documentElement.scrollWidth <= 375")
    assert no_hscroll
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-mobile.png"))
    page.close()
