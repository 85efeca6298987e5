"""``/`` (the demo page), ``/widget.js`` (the embeddable chat widget), ``/widget/config``
(the widget's texts for this catalog) and ``/favicon.ico``.

Every word the page and the widget show about the catalog comes from the settings
(``RECAGENT_ITEM_NOUN``, ``RECAGENT_ITEM_VERB``) and from the catalog itself: the example
requests are built from its largest categories, the decades they are strongest in, and its
best-known items, so an example always works on the catalog it is shown on.
"""

from __future__ import annotations

import asyncio
import html
import struct
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from agent.service import item_words
from api.deps import RuntimeDep
from api.errors import documented
from recagent.demo import _database_key, _read_state, state_path
from recagent.runtime import Runtime
from recagent.settings import Settings
from tools.catalog.protocol import Catalog, ItemFilter

router = APIRouter(tags=["widget"])

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
_CONFIG_KEY = "widget_config"


def _count(catalog: Catalog, **conditions: Any) -> int:
    return len(catalog.filter_ids(ItemFilter(**conditions)))


def _best_decade(catalog: Catalog, category: str) -> int | None:
    years = [y for y in catalog.years(catalog.filter_ids(ItemFilter(categories_any=[category])))
             .values() if y]
    if not years:
        return None
    counts: dict[int, int] = {}
    for y in years:
        counts[y // 10 * 10] = counts.get(y // 10 * 10, 0) + 1
    decade, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return decade if n >= 3 else None


def _short_title(title: str) -> bool:
    return 2 <= len(title) <= 32 and not any(ch in title for ch in "()[]:;\"")


def widget_texts(catalog: Catalog, noun: str, plural: str, verb: str = "try") -> dict[str, Any]:
    """The widget's and the page's texts for this catalog (blocking: reads the catalog), in
    its words: the item noun and the verb (``RECAGENT_ITEM_VERB``: "watch", "read", "buy")."""
    cats = sorted(catalog.categories(), key=lambda c: (-_count(catalog, categories_any=[c]), c))
    examples: list[str] = []
    if cats:
        decade = _best_decade(catalog, cats[0])
        examples.append(f"{cats[0]} {plural} from the {decade}s" if decade
                        else f"{cats[0]} {plural}")
    ids, _scores = catalog.top_popular(50)
    titles = catalog.titles(ids)
    famous = [titles[i] for i in ids if i in titles and _short_title(titles[i])]
    if famous:
        examples.append(f"Something like {famous[0]}")
    if len(cats) > 2:
        examples.append(f"{cats[1]} {plural}, but no {cats[2]}")
    elif len(cats) > 1:
        examples.append(f"{cats[1]} {plural}")
    title = f"{noun[:1].upper()}{noun[1:]} recommendations"
    return {
        "noun": noun,
        "plural": plural,
        "verb": verb,
        "title": title,
        "launcher": f"Find {plural} to {verb}",
        "placeholder": f"What would you like to {verb}?",
        "welcome": f"Tell me what you would like to {verb} \u2014 a kind of {noun}, a decade, "
        "a title you loved.",
        "examples": examples,
        "famous": famous[:3],
        "categories": cats[:6],
    }


async def _texts(request: Request, runtime: Runtime) -> dict[str, Any]:
    """The texts, made once per catalog state (a new import or a reload makes them again)."""
    key = (id(runtime.catalog), len(runtime.catalog))
    cached: tuple[tuple[int, int], dict[str, Any]] | None = getattr(
        request.app.state, _CONFIG_KEY, None)
    if cached is not None and cached[0] == key:
        return cached[1]
    words = item_words(runtime.settings)
    texts = await asyncio.to_thread(widget_texts, runtime.catalog, words.noun, words.plural,
                                    words.verb)
    setattr(request.app.state, _CONFIG_KEY, (key, texts))
    return texts


def _bundled_demo(settings: Settings) -> bool:
    """True when the database was filled by ``recagent demo`` with the bundled data."""
    try:
        state = _read_state(state_path(settings))
        return _database_key(settings.database_url) in (state.get("databases") or {})
    except Exception:  # no state, odd URL: say nothing about the data
        return False


@router.get("/", include_in_schema=False)
async def index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    texts = await _texts(request, runtime)
    attribution = ""
    if _bundled_demo(runtime.settings):
        attribution = (STATIC_DIR / "attribution.html").read_text(encoding="utf-8")
    example = texts["examples"][0] if texts["examples"] else ""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    values = {
        "TITLE": html.escape(texts["title"]),
        "PLURAL": html.escape(texts["plural"]),
        "VERB": html.escape(texts["verb"]),
        "EXAMPLE": html.escape(example),
        "FAMOUS": html.escape(", ".join(texts["famous"][:2])),
        "WIDGET_TITLE": html.escape(texts["title"], quote=True),
    }
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", value)
    page = page.replace("{{ATTRIBUTION}}", attribution)
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/widget/config", summary="The widget's texts for this catalog",
            responses=documented(503))
async def widget_config(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Title, launcher, placeholder, welcome line and example requests for this catalog
    (a page may override each with the script tag's ``data-*`` attributes)."""
    return JSONResponse(await _texts(request, runtime),
                        headers={"Cache-Control": "public, max-age=300",
                                 "Access-Control-Allow-Origin": "*"})


@router.get("/widget.js", summary="The embeddable chat widget", response_class=Response,
            responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}},
                             "description": "the script"}})
async def widget() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.js",
                        media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300",
                                 "Access-Control-Allow-Origin": "*"})


def _icon() -> bytes:
    """A 16x16 ICO (one 32-bit bitmap): a round badge in the widget's colour."""
    size = 16
    pixels = bytearray()
    for y in range(size - 1, -1, -1):  # bottom-up rows
        for x in range(size):
            dx, dy = x - 7.5, y - 7.5
            inside = dx * dx + dy * dy <= 56
            pixels += bytes((0xD1, 0x2F, 0x3A, 0xFF)) if inside else bytes(4)
    mask = bytes(size * 4)  # 1 bit a pixel, rows padded to 32 bits: all opaque (alpha rules)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0,
                         len(pixels) + len(mask), 0, 0, 0, 0)
    image = header + bytes(pixels) + mask
    return (struct.pack("<HHH", 0, 1, 1)
            + struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 22) + image)


_ICON = _icon()


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(_ICON, media_type="image/x-icon",
                    headers={"Cache-Control": "public, max-age=86400"})



