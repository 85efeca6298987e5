"""``filter_items`` (hard conditions) and ``search_text`` (soft, by text similarity)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from tools.builtin.common import bus_output, row_maps, top_order, visible_rows
from tools.catalog.repository import ItemFilter, UnknownCategoryError
from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.spec import Category, Ctx, ToolOutput, tool

Year = Annotated[int, Field(ge=1800, le=2100)]
POPULAR_PCT = 90.0  # "popular" = top 10 % by popularity
NICHE_PCT = 50.0  # "niche" = bottom half


@tool
def filter_items(
    ctx: Ctx,
    categories_any: list[Category] | None = None,
    categories_all: list[Category] | None = None,
    categories_none: list[Category] | None = None,
    year_min: Year | None = None,
    year_max: Year | None = None,
    min_rating: Annotated[float, Field(ge=0, le=5)] | None = None,
    min_rating_count: Annotated[int, Field(ge=0)] | None = None,
    popularity: Literal["popular", "niche"] | None = None,
    attributes: dict[str, str | int | float | bool] | None = None,
    tags_all: list[str] | None = None,
    include_shown: bool = False,
) -> ToolOutput:
    """Keep only candidates meeting hard conditions (all given conditions must hold).

    Args:
        categories_any: at least one of these categories.
        categories_all: every one of these categories.
        categories_none: none of these categories.
        year_min: earliest year.
        year_max: latest year.
        min_rating: minimum average rating, 0-5 stars.
        min_rating_count: minimum number of ratings.
        popularity: popular (top 10%) or niche (bottom half).
        attributes: attribute equals value, e.g. {"language": "fr"}.
        tags_all: catalog tags every item must carry, e.g. ["time travel"].
        include_shown: keep items already shown or disliked.
    """
    if year_min is not None and year_max is not None and year_min > year_max:
        raise ModelRetry(f"year_min {year_min} is after year_max {year_max}")
    f = ItemFilter(
        categories_any=categories_any or [], categories_all=categories_all or [],
        categories_none=categories_none or [], year_min=year_min, year_max=year_max,
        min_rating=min_rating, min_rating_count=min_rating_count,
        popularity_pct_min=POPULAR_PCT if popularity == "popular" else None,
        popularity_pct_max=NICHE_PCT if popularity == "niche" else None,
        attributes=attributes or {}, tags_all=tags_all or [],
    )
    if f.is_empty():
        raise ModelRetry("give at least one condition")
    try:
        canonical = ctx.catalog.canonical(f)
    except UnknownCategoryError as exc:
        raise ModelRetry(f"{exc}; valid categories: {', '.join(ctx.catalog.categories())}"
                         ) from None
    if not include_shown:
        hidden = ctx.hidden_ids()
        if hidden:
            canonical = canonical.model_copy(update={"exclude_ids": sorted(hidden)})
    what = canonical.model_copy(update={"exclude_ids": []}).describe()
    if ctx.bus.rows is None:
        rows = ctx.catalog.filter_rows(canonical)
        matched = int(rows.size)
    else:
        keep = ctx.catalog.filter_mask(canonical, ctx.bus.rows)
        matched = int(np.count_nonzero(keep))
    if not matched:
        ctx.notes.messages.append(f"filter_items matched nothing: {what}")
        out = bus_output(ctx, f"filter ({what}) matches no candidate; candidates unchanged "
                              "- relax a condition", matched=0)
        return out
    ctx.notes.filters.append(canonical)
    if ctx.bus.rows is None:
        ctx.bus.set_rows("filter_items", rows, detail=what, unique=True)
    else:
        ctx.bus.narrow_rows("filter_items", keep, detail=what)
    return bus_output(ctx, f"filter ({what})", filter=canonical.model_dump(exclude={"exclude_ids"}))


@tool
def search_text(
    ctx: Ctx,
    query: Annotated[str, Field(min_length=1, max_length=500)] | None = None,
    avoid: Annotated[str, Field(min_length=1, max_length=500)] | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 200,
    include_shown: bool = False,
) -> ToolOutput:
    """Rank candidates by text similarity to a description (plot, mood, tags).

    Matching candidates first, best match first; at most limit are kept. Candidates that
    match avoid go last (a soft "not too ...": pushed down, not removed).

    Args:
        query: what the user described, e.g. "heist thriller, slow burn".
        avoid: what the user wants less of, e.g. "gory, violent".
        limit: most candidates to keep.
        include_shown: keep items already shown or disliked.
    """
    if query is None and avoid is None:
        raise ModelRetry("give query (what to match) or avoid (what to push down), or both")
    index = ctx.models.text
    if index is None:
        return ToolOutput(text="text search is unavailable (no text index is loaded); "
                               "candidates unchanged")
    if query is None:
        return _push_down(ctx, index, avoid or "", include_shown, limit)
    to_index, from_index = row_maps(ctx, index)
    fast = hasattr(index, "search_rows")
    if ctx.bus.rows is None:
        return _search_all(ctx, index, query, avoid, include_shown, limit, from_index, fast)
    # a soft condition on an existing set re-ranks it: matches first, the rest keep order
    return _rerank(ctx, index, query, avoid, include_shown, limit, to_index, fast)


def _search_all(ctx: ToolContext, index: Any, query: str, avoid: str | None,
                include_shown: bool, limit: int, from_index: np.ndarray | None,
                fast: bool) -> ToolOutput:
    """search_text without candidates yet: the best text matches become the candidates."""
    hidden_ids = set() if include_shown else ctx.hidden_ids()
    hidden = ctx.hidden_rows() if hidden_ids else np.empty(0, dtype=np.int64)
    if fast:
        found, scores = index.search_rows(query, n=limit + len(hidden_ids))
        rows = found if from_index is None else from_index[found]
        keep = rows >= 0
        if hidden.size:
            keep &= ~np.isin(rows, hidden)
        rows, scores = rows[keep][:limit], scores[keep][:limit]
    else:
        hits = index.search(query, n=limit + len(hidden_ids))
        rows = ctx.catalog.rows([h.item_id for h in hits])
        known = {h.item_id: h.score for h in hits}
        scores = np.array([known[i] for i in ctx.catalog.columns.ids[rows].tolist()],
                          dtype=np.float64)
        keep = ~np.isin(rows, hidden)
        rows, scores = rows[keep][:limit], scores[keep][:limit]
    if not rows.size:
        ctx.notes.messages.append(f"search_text matched nothing: {query!r}")
        if query not in ctx.notes.unresolved:
            ctx.notes.unresolved.append(query)
        return bus_output(ctx, f'no item matches "{query}"; candidates unchanged',
                          matched=0)
    ctx.bus.set_rows("search_text", rows, scores, detail=query, unique=True)
    if avoid:
        return _push_down(ctx, index, avoid, include_shown, limit)
    return bus_output(ctx, f'text match "{query}"', matched=int(rows.size))


def _rerank(ctx: ToolContext, index: Any, query: str, avoid: str | None, include_shown: bool,
            limit: int, to_index: np.ndarray | None, fast: bool) -> ToolOutput:
    """search_text over candidates: text matches first (best first), the rest keep order."""
    within = visible_rows(ctx, include_shown)
    score = _text_scores(ctx, index, query, within, to_index, fast)
    hit = score > 0
    positions = np.flatnonzero(hit)
    own = within[positions] if to_index is None else to_index[within[positions]]
    order = positions[top_order(score[positions], limit, own)]  # by score, then index order
    ranked = np.concatenate([order, np.flatnonzero(~hit)[:limit - order.size]])
    n_hits = int(positions.size)
    ctx.bus.rank_rows("search_text", within[ranked], score[ranked], detail=query)
    if not n_hits:
        ctx.notes.messages.append(f"search_text matched nothing here: {query!r}")
        # "not found" only when nothing in the whole catalog matches (here: only reordered)
        if not index.search(query, n=1) and query not in ctx.notes.unresolved:
            ctx.notes.unresolved.append(query)
    if avoid:
        return _push_down(ctx, index, avoid, include_shown, limit)
    return bus_output(ctx, f'text match "{query}": {n_hits} of {within.size} match',
                      matched=n_hits)


def _text_scores(ctx: ToolContext, index: Any, query: str, rows: np.ndarray,
                 to_index: np.ndarray | None, fast: bool) -> np.ndarray:
    """Text similarity of the catalog ``rows`` to ``query`` (0 where nothing is shared or
    the index does not know the item)."""
    if fast:
        everything = np.asarray(index.scores(query), dtype=np.float64)
        own = rows if to_index is None else to_index[rows]
        known = own >= 0
        out = np.zeros(rows.shape[0], dtype=np.float64)
        out[known] = everything[own[known]]
        return out
    ids = ctx.catalog.columns.ids[rows].tolist()
    found = {h.item_id: h.score for h in index.search(query, n=len(ids), within=ids)}
    return np.array([found.get(i, 0.0) for i in ids], dtype=np.float64)


def _push_down(ctx: ToolContext, index: Any, avoid: str, include_shown: bool,
               limit: int) -> ToolOutput:
    """Candidates matching ``avoid`` move to the end (order otherwise kept)."""
    if ctx.bus.rows is None:
        return bus_output(ctx, f'nothing to push down for "{avoid}" yet (no candidates)',
                          pushed=0)
    within = visible_rows(ctx, include_shown)
    to_index, _ = row_maps(ctx, index)
    bad = _text_scores(ctx, index, avoid, within, to_index, hasattr(index, "search_rows")) > 0
    rows = np.concatenate([within[~bad], within[bad]])[:limit]
    n = rows.size
    ctx.bus.rank_rows("search_text", rows, np.arange(n, 0, -1, dtype=np.float64),
                      detail=f"less {avoid}")
    n_bad = int(np.count_nonzero(bad))
    return bus_output(ctx, f'pushed down {n_bad} of {within.size} matching "{avoid}"',
                      pushed=n_bad)
