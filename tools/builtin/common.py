"""What the built-in tools share: hiding seen/disliked items, id checks, short summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.spec import ToolOutput

TOP_TITLES = 5  # titles shown to the model in a summary
MAX_IDS = 20  # item ids one call may name


def visible(ctx: ToolContext, ids: Sequence[str], include_shown: bool) -> list[str]:
    """``ids`` without what the session disliked or was already shown (unless asked)."""
    if include_shown:
        return list(ids)
    hidden = ctx.hidden_ids()
    return [i for i in ids if i not in hidden] if hidden else list(ids)


def visible_rows(ctx: ToolContext, include_shown: bool) -> np.ndarray:
    """The bus's rows (a non-open bus) without the hidden items (unless asked), in order."""
    rows = ctx.bus.rows
    assert rows is not None
    if include_shown:
        return rows
    hidden = ctx.hidden_rows()
    return rows[~np.isin(rows, hidden)] if hidden.size else rows


def top_order(scores: np.ndarray, k: int | None, tiebreak: np.ndarray | None = None
              ) -> np.ndarray:
    """Positions of the first ``k`` (None: all) in ``np.lexsort((tiebreak, -scores))`` order
    (``tiebreak`` None: the position): best score first, ties by ``tiebreak``. With a small
    ``k`` only the values reaching the k-th best are sorted (the same positions, in the same
    order, as the full sort's first k)."""
    n = scores.shape[0]
    tb = np.arange(n) if tiebreak is None else tiebreak
    if k is None or k >= n:
        return np.lexsort((tb, -scores))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(scores, n - k)[n - k]
    cand = np.flatnonzero(scores >= kth)
    return cand[np.lexsort((tb[cand], -scores[cand]))][:k]


def row_maps(ctx: ToolContext, owner: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(to_owner, from_owner): how ``owner``'s rows (a model's or the text index's item
    order) line up with the catalog's; None = the same order, or when ``owner`` cannot say
    (then ``owner_rows`` is None and tools go through item ids)."""
    maps = getattr(owner, "catalog_rows", None)
    if maps is None:
        return None, None
    cols = ctx.catalog.columns
    result: tuple[np.ndarray | None, np.ndarray | None] = maps(cols.ids, cols.index)
    return result


def known_ids(ctx: ToolContext, ids: Sequence[str], what: str = "item_ids") -> list[str]:
    """The ids the catalog knows; ModelRetry if none is known (the model passed titles or
    made ids up)."""
    ids = [str(i).strip() for i in ids if str(i).strip()]
    if not ids:
        raise ModelRetry(f"{what} is empty: give catalog item ids (from lookup_items)")
    if len(ids) > MAX_IDS:
        raise ModelRetry(f"{what}: at most {MAX_IDS} ids per call")
    known = ctx.catalog.known(ids)
    if not known:
        raise ModelRetry(f"unknown item id(s) {', '.join(ids[:5])}: use lookup_items to turn "
                         "titles into item ids")
    return list(dict.fromkeys(known))


def labels(ctx: ToolContext, ids: Sequence[str]) -> str:
    return ", ".join(ctx.catalog.label(i) for i in ids)


def bus_output(ctx: ToolContext, what: str, **data: object) -> ToolOutput:
    """``what`` happened + the bus summary (count, change, top titles)."""
    bus = ctx.bus
    top = bus.head(TOP_TITLES)
    last = bus.log[-1] if bus.log else None
    change = ""
    if last is not None:
        before = "all" if last.before is None else str(last.before)
        change = f" ({before} -> {last.after})"
    count = "whole catalog" if bus.is_open else str(len(bus))
    text = f"{what}. candidates: {count}{change}"
    if top:
        text += f"; top: {labels(ctx, top)}"
    payload = {"candidates": None if bus.is_open else len(bus), **data}
    return ToolOutput(text=text, data=payload, items=list(top))
