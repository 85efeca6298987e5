"""The widget and the landing page speak the catalog's language, in a real browser against a
real server: the bundled movies (item noun "movie", as ``recagent demo`` sets it) and a small
books catalog whose items carry a link and a picture. What a user would notice: no "movie" on
the books page or in its answers, example requests taken from the catalog that work when
clicked, a reason on every card, a link and a picture with alt text, cards that come back
after a reload, a conversation held with the keyboard alone, and a favicon."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.api.support import LiveServer, trained_models
from tests.e2e.conftest import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BOOKS = Path(__file__).resolve().parents[1] / "data" / "books"
MOVIE_WORDS = re.compile(r"movie|film|watch", re.IGNORECASE)
W = "#recagent-widget >> "


def _serve(db_url: str, models: Path, noun: str) -> LiveServer:
    from api.app import create_app
    from recagent.settings import load_settings

    settings = load_settings(database_url=db_url, model_dir=models, redis_url=None, llm="rules",
                             rate_limit_per_minute=0, plugins=[], item_noun=noun)
    return LiveServer(create_app(settings)).start()


@pytest.fixture(scope="module")
def movies_server(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[LiveServer]:
    from recagent.demo import STATE_FILE, _database_key

    models = trained_models(ml_sqlite_url, tmp_path_factory.mktemp("e2e-models") / "models")
    # as `recagent demo` leaves it: this database holds the bundled data (attribution shown)
    state = {"databases": {_database_key(ml_sqlite_url): {"data_fingerprint": "test"}}}
    (Path(models).parent / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    server = _serve(ml_sqlite_url, models, "movie")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def books_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_csv
    from tools.recommenders.training import train

    root = tmp_path_factory.mktemp("e2e-books")
    with open(BOOKS / "items.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # a page and a cover for every book: a link out, and a picture the server itself serves
    for row in rows:
        row["url"] = f"https://books.example.org/{row['item_id']}"
        row["cover_image"] = "/favicon.ico"
    items = root / "items.csv"
    with open(items, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    url = f"sqlite:///{root / 'books.db'}"
    engine = make_engine(url)
    try:
        ingest_csv(engine, items, BOOKS / "interactions.csv")
        train(engine, root / "models", seed=42, evaluate=False)
    finally:
        engine.dispose()
    server = _serve(url, root / "models", "book")
    yield server
    server.stop()


def _open(browser: Browser, server: LiveServer, width: int = 1280) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(server.url + "/")
    page.wait_for_selector(W + ".root[data-ready=true]", state="attached", timeout=15_000)
    return page


def _wait_turn(page: Page, n: int) -> None:
    page.wait_for_function(
        """n => {
          const p = document.querySelector('#recagent-widget').shadowRoot.querySelector('.panel');
          return Number(p.getAttribute('data-turns') || 0) >= n
            && p.getAttribute('aria-busy') === 'false';
        }""", arg=n, timeout=30_000)


def _all_text(page: Page) -> str:
    """Everything a person can read or hear: page text, widget text, placeholders, labels."""
    text = page.evaluate("""() => {
      const root = document.querySelector('#recagent-widget').shadowRoot;
      const attrs = [...document.querySelectorAll('[aria-label],[placeholder],[alt],[title]'),
                     ...root.querySelectorAll('[aria-label],[placeholder],[alt],[title]')]
        .map(e => ['aria-label', 'placeholder', 'alt', 'title']
          .map(a => e.getAttribute(a) || '').join(' '));
      return [document.title, document.body.innerText, root.querySelector('.root').innerText,
              ...attrs].join('\\n');
    }""")
    assert isinstance(text, str)
    return text


def _chips(page: Page) -> list[str]:
    return [b.inner_text() for b in page.locator(W + ".examples button").all()]


def test_books_page_and_answers_never_say_movie(browser: Browser, books_server: LiveServer) -> None:
    page = _open(browser, books_server)
    assert page.title() == "recagent — Book recommendations"
    assert page.locator(W + "h2").inner_text() == "Book recommendations"
    # the catalog's verb where one is needed: derived from the noun ("book" -> "read")
    assert page.get_by_label("Your message").get_attribute("placeholder") == (
        "What would you like to read?")
    assert "find books to read" in page.locator("main").inner_text()
    assert page.locator(W + ".msg.note").first.inner_text().startswith(
        "Tell me what you would like to read")
    chips = _chips(page)
    assert len(chips) >= 2, chips
    assert any("The Hobbit" in c or "Something like" in c for c in chips), chips
    assert not MOVIE_WORDS.search(_all_text(page)), _all_text(page)
    assert "MovieLens" not in page.content()  # no attribution of data this catalog lacks

    # every example works on this catalog: cards, a reason each, nothing "not found"
    for k, chip in enumerate(chips):
        if k:
            page.get_by_role("button", name="Start a new conversation").click()
        page.get_by_role("button", name=chip).click()
        _wait_turn(page, 1)
        reply = page.locator(W + ".msg.bot").last.inner_text()
        assert "could not find" not in reply and "Nothing in the catalog" not in reply, reply
        cards = page.locator(W + ".card")
        assert cards.count() >= 3, (chip, reply)
        reasons = [r.inner_text() for r in page.locator(W + ".card .reason").all()]
        assert len(reasons) == cards.count() and all(reasons), reasons
        assert not re.search(r"\b1\. ", reply), reply  # the cards carry the list
        assert not MOVIE_WORDS.search(_all_text(page)), (chip, _all_text(page))

    # a card with a link out and a picture with alt text (loaded from the server)
    card = page.locator(W + ".card").first
    title = card.locator("h3").inner_text().strip()
    link = card.get_by_role("link")
    href = link.get_attribute("href", timeout=2_000)
    assert href is not None and href.startswith("https://books.example.org/b"), href
    assert link.get_attribute("target") == "_blank"
    img = card.locator("img")
    assert img.get_attribute("alt") == title
    page.wait_for_function(
        """() => { const i = document.querySelector('#recagent-widget').shadowRoot
                     .querySelector('.card img');
                   return i && i.complete && i.naturalWidth > 0; }""",
        timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-books.png"))
    icon = httpx.get(books_server.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    page.close()


def _active(page: Page) -> dict[str, str]:
    """The focused element of the widget: its tag, role and accessible name."""
    active = page.evaluate("""() => {
      const a = document.querySelector('#recagent-widget').shadowRoot.activeElement;
      if (!a) return {};
      const labelled = a.id && a.getRootNode().querySelector(`label[for="${a.id}"]`);
      return {tag: a.tagName.toLowerCase(), role: a.getAttribute('role') || '',
              name: a.getAttribute('aria-label') || (labelled && labelled.textContent)
                    || a.textContent.trim()}; }""")
    assert isinstance(active, dict)
    return active


def _cards(page: Page, which: int = 0) -> list[tuple[str | None, str, str | None, str | None]]:
    """(item id, reason, link, picture) of every card of one answer."""
    lst = page.locator(W + "ul.cards").nth(which)
    return [(c.get_attribute("data-item-id"), c.locator(".reason").inner_text(),
             c.locator("a.more").get_attribute("href"), c.locator("img").get_attribute("src"))
            for c in lst.locator(".card").all()]


def test_keyboard_only_conversation_and_cards_after_reload(
    browser: Browser, books_server: LiveServer
) -> None:
    page = _open(browser, books_server)
    # screen readers: the conversation is a polite live log, the status line a status, the
    # panel a labelled dialog, the message box labelled; every button has a name
    log = page.locator(W + ".log")
    assert (log.get_attribute("role"), log.get_attribute("aria-live")) == ("log", "polite")
    assert page.locator(W + ".status").get_attribute("role") == "status"
    panel = page.get_by_role("dialog", name="Book recommendations")
    assert panel.is_visible()
    names = page.evaluate("""() => [...document.querySelector('#recagent-widget').shadowRoot
        .querySelectorAll('button')].map(b => b.getAttribute('aria-label') || b.textContent)""")
    assert names and all(n.strip() for n in names), names
    # the demo page opens the panel with the focus in the message box: type, Enter
    assert _active(page) == {"tag": "textarea", "role": "", "name": "Your message"}
    page.keyboard.press("Tab")  # focus order: the box, then Send
    assert _active(page)["name"] == "Send"
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("I loved The Hobbit, anything similar?")
    page.keyboard.press("Enter")
    _wait_turn(page, 1)
    assert _active(page)["name"] == "Your message"  # back in the box for the follow-up
    # the answer is inside the live region (read out), with the cards' list labelled
    reply = log.locator(".msg.bot")
    assert reply.count() == 1 and "the book you liked" in reply.inner_text()
    assert page.locator(W + ".log ul.cards").first.get_attribute("aria-label")
    before = _cards(page)
    assert len(before) >= 3 and all("The Hobbit" in r for _i, r, _l, _p in before[:3]), before
    assert all(link and img for _i, _r, link, img in before), before

    # Tab to the first card's Like button and press it, without the mouse
    first_title = page.locator(W + ".card h3").first.inner_text().strip()
    for _ in range(60):
        page.keyboard.press("Shift+Tab")
        name = page.evaluate("""() => {
          const a = document.querySelector('#recagent-widget').shadowRoot.activeElement;
          return a && a.getAttribute('aria-label'); }""")
        if name and name.startswith("Like " + first_title):
            break
    else:
        pytest.fail("the Like button of the first card is not reachable with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector(W + ".card.liked", timeout=10_000)

    # follow-up with the keyboard: Shift+Tab back is long, so jump with Escape / Enter
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")  # the launcher has the focus; reopens with focus in the box
    page.keyboard.type("older ones")
    page.keyboard.press("Enter")
    _wait_turn(page, 2)
    assert page.locator(W + "ul.cards").count() == 2

    # reload: the text and the cards of both answers come back, with their reasons and marks
    page.reload()
    page.wait_for_selector(W + ".root[data-ready=true]", state="attached", timeout=15_000)
    assert page.locator(W + "ul.cards").count() == 2
    second = _cards(page, 1)
    assert _cards(page) == before
    assert page.locator(W + ".card.liked").count() >= 1

    # without the browser's copy of the cards they are read back from the catalog
    page.evaluate("""() => Object.keys(sessionStorage)
                       .filter(k => k.startsWith('recagent-cards:'))
                       .forEach(k => sessionStorage.removeItem(k))""")
    page.reload()
    page.wait_for_selector(W + ".root[data-ready=true]", state="attached", timeout=15_000)
    # ... and still say the same: the reason kept with the answer, link and picture
    assert _cards(page) == before
    assert _cards(page, 1) == second
    page.close()


def test_movies_demo_examples_links_and_overrides(browser: Browser, movies_server: LiveServer
                                                  ) -> None:
    page = _open(browser, movies_server)
    assert page.locator(W + "h2").inner_text() == "Movie recommendations"
    assert "MovieLens ml-latest-small" in page.locator("main").inner_text()  # data attribution
    chips = _chips(page)
    assert len(chips) >= 2 and all("movie" in c.lower() or c.startswith("Something like")
                                   for c in chips), chips
    assert page.get_by_label("Your message").get_attribute("placeholder") == (
        "What would you like to watch?")
    page.get_by_role("button", name=chips[0]).click()
    _wait_turn(page, 1)
    reply = page.locator(W + ".msg.bot").last.inner_text()
    assert "could not find" not in reply and page.locator(W + ".card").count() >= 5, reply
    links = [a.get_attribute("href") for a in page.locator(W + ".card a.more").all()]
    assert links and all(h is not None and h.startswith("https://www.imdb.com/title/tt")
                         for h in links), links
    reasons = [r.inner_text() for r in page.locator(W + ".card .reason").all()]
    assert all(reasons) and len(set(reasons)) > 1, reasons  # each card its own reason
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-movies.png"))
    page.close()

    # a host page sets its own texts and examples with data-* attributes
    page = browser.new_page()
    page.route(movies_server.url + "/host.html", lambda route: route.fulfill(
        content_type="text/html",
        body=f"""<!doctype html><html><body><script src="{movies_server.url}/widget.js"
          data-title="Film night" data-placeholder="Pick a mood" data-launcher="Need a film?"
          data-examples="Comedies from the 80s|Something like Toy Story" data-open="true"
          defer></script></body></html>"""))
    page.goto(movies_server.url + "/host.html")
    page.wait_for_selector(W + ".root[data-ready=true]", state="attached", timeout=15_000)
    assert page.locator(W + "h2").inner_text() == "Film night"
    assert page.get_by_label("Your message").get_attribute("placeholder") == "Pick a mood"
    assert _chips(page) == ["Comedies from the 80s", "Something like Toy Story"]
    page.close()
