"""Screenshots of the demo page and its chat widget for the docs (docs/img/), one per catalog:

- ``movies.png``: the bundled MovieLens demo, prepared as ``recagent demo`` prepares it
  (item noun "movie"; links to IMDb from ``links.csv``);
- ``books.png``: the 44-book catalog of the tests (``tests/data/books``, item noun "book"),
  each book given a link (an Open Library search) and a generated cover picture (an SVG with
  its title: the data has no covers), as a shop would import its own.

Each catalog is prepared in a temporary folder, served by a real uvicorn server on a free
loopback port (rules planner, no network), and opened in headless Chromium; the widget's
first example request (made from that catalog) is clicked, the answer awaited, and the page
captured. Nothing in the repository is written except the two PNGs.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/screenshots.py [--out docs/img]
        [--chromium /usr/bin/chromium] [--width 1100] [--height 760]

Needs the dev extra (playwright) and a Chromium binary (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import csv
import html
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT / "tests" / "data" / "books"
PALETTE = ("#3a2fd1", "#2e9d5b", "#d1492f", "#b07a00", "#1f7a8c", "#7a3fa0")


def _cover(title: str, k: int) -> str:
    """A small SVG cover with the title on it, as a data: URL (under 2,000 characters)."""
    words, lines, line = title.split(), [], ""
    for w in words:
        if len(line) + len(w) > 11 and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    text = "".join(
        f'<text x="28" y="{34 + 14 * i}" font-size="11" text-anchor="middle" '
        f'font-family="sans-serif" fill="#fff">{html.escape(t)}</text>'
        for i, t in enumerate(lines[:5]))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="56" height="80">'
           f'<rect width="56" height="80" rx="4" fill="{PALETTE[k % len(PALETTE)]}"/>{text}</svg>')
    return "data:image/svg+xml," + urllib.parse.quote(svg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(settings: Any) -> Iterator[str]:
    import uvicorn

    from api.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:  # bounded: the deadline
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("screenshots: the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _movies(root: Path) -> Any:
    from recagent.demo import prepare_demo
    from recagent.settings import load_settings

    settings = load_settings(database_url=f"sqlite:///{root / 'movies.db'}",
                             model_dir=root / "movies" / "models", redis_url=None, llm="rules",
                             plugins="", item_noun="movie", rate_limit_per_minute=0)
    prepare_demo(settings, progress=False)  # as `recagent demo` does (attribution shown)
    return settings


def _books(root: Path) -> Any:
    from recagent.settings import load_settings
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_csv
    from tools.recommenders.training import train

    with open(BOOKS / "items.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for k, row in enumerate(rows):
        row["url"] = "https://openlibrary.org/search?q=" + urllib.parse.quote(row["title"])
        row["cover_image"] = _cover(row["title"], k)
    items = root / "books.csv"
    with open(items, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    url = f"sqlite:///{root / 'books.db'}"
    engine = make_engine(url)
    try:
        ingest_csv(engine, items, BOOKS / "interactions.csv")
        train(engine, root / "books-models", seed=42, evaluate=False)
    finally:
        engine.dispose()
    return load_settings(database_url=url, model_dir=root / "books-models", redis_url=None,
                         llm="rules", plugins="", item_noun="book", rate_limit_per_minute=0)


def _shoot(browser: Any, url: str, out: Path, width: int, height: int) -> str:
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(url + "/")
        page.wait_for_selector("#recagent-widget >> .root[data-ready=true]", state="attached",
                               timeout=30_000)
        chip = page.locator("#recagent-widget >> .examples button").first
        request = chip.inner_text()
        chip.click()
        page.wait_for_function(
            """() => { const p = document.querySelector('#recagent-widget').shadowRoot
                         .querySelector('.panel');
                       return Number(p.getAttribute('data-turns') || 0) >= 1
                         && p.getAttribute('aria-busy') === 'false'; }""", timeout=60_000)
        page.wait_for_function(  # the pictures on the cards have loaded
            """() => [...document.querySelector('#recagent-widget').shadowRoot
                        .querySelectorAll('.card img')].every(i => i.complete)""",
            timeout=10_000)
        page.screenshot(path=str(out))
        return request
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=760)
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"screenshots: no Chromium at {args.chromium} (apt-get install chromium)",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recagent-shots-") as tmp:
        root = Path(tmp)
        catalogs = (("movies", _movies), ("books", _books))
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=args.chromium,
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking"])
            try:
                for name, prepare in catalogs:
                    print(f"screenshots: preparing the {name} catalog", flush=True)
                    settings = prepare(root)
                    with _serve(settings) as url:
                        target = args.out / f"{name}.png"
                        request = _shoot(browser, url, target, args.width, args.height)
                    print(f"screenshots: {target} ({target.stat().st_size // 1024} KB) "
                          f"after the example request \u201c{request}\u201d", flush=True)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
