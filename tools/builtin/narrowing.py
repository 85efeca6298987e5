"""``filter_items`` (hard conditions) and ``search_text`` (soft, by text similarity)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from tools.builtin.common import bus_output, visible
from tools.catalog.repository import ItemFilter, UnknownCategoryError
from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.registry import Ctx, ToolOutput, tool

Year = Annotated[int, Field(ge=1800, le=2100)]
POPULAR_PCT = 90.0  # "popular" = top 10 % by popularity
NICHE_PCT = 50.0  # "niche" = bottom half


@tool
def filter_items(
    ctx: Ctx,
    categories_any: list[str] | None = None,
    categories_all: list[str] | None = None,
    categories_none: list[str] | None = None,
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
        min_rating: minimum average rating (0-5).
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
    ids = ctx.catalog.filter_ids(canonical, ctx.bus.ids)
    what = canonical.model_copy(update={"exclude_ids": []}).describe()
    if not ids:
        ctx.notes.messages.append(f"filter_items matched nothing: {what}")
        out = bus_output(ctx, f"filter ({what}) matches no candidate; candidates unchanged "
                              "- relax a condition", matched=0)
        return out
    ctx.notes.filters.append(canonical)
    if ctx.bus.ids is None:
        ctx.bus.set("filter_items", ids, detail=what)
    else:
        ctx.bus.narrow("filter_items", set(ids).__contains__, detail=what)
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
    if ctx.bus.ids is None:
        hidden = set() if include_shown else ctx.hidden_ids()
        hits = index.search(query, n=limit + len(hidden))
        hits = [h for h in hits if h.item_id not in hidden][:limit]
        if not hits:
            ctx.notes.messages.append(f"search_text matched nothing: {query!r}")
            if query not in ctx.notes.unresolved:
                ctx.notes.unresolved.append(query)
            return bus_output(ctx, f'no item matches "{query}"; candidates unchanged',
                              matched=0)
        ctx.bus.set("search_text", [h.item_id for h in hits], [h.score for h in hits],
                    detail=query)
        if avoid:
            return _push_down(ctx, index, avoid, include_shown, limit)
        return bus_output(ctx, f'text match "{query}"', matched=len(hits))
    # a soft condition on an existing set re-ranks it: matches first, the rest keep order
    within = visible(ctx, ctx.bus.ids, include_shown)
    hits = index.search(query, n=len(within), within=within)
    score = {h.item_id: h.score for h in hits}
    rest = [i for i in within if i not in score]
    ids = ([h.item_id for h in hits] + rest)[:limit]
    ctx.bus.rank("search_text", ids, [score.get(i, 0.0) for i in ids], detail=query)
    if not hits:
        ctx.notes.messages.append(f"search_text matched nothing here: {query!r}")
        # "not found" only when nothing in the whole catalog matches (here: only reordered)
        if not index.search(query, n=1) and query not in ctx.notes.unresolved:
            ctx.notes.unresolved.append(query)
    if avoid:
        return _push_down(ctx, index, avoid, include_shown, limit)
    return bus_output(ctx, f'text match "{query}": {len(hits)} of {len(within)} match',
                      matched=len(hits))


def _push_down(ctx: ToolContext, index: Any, avoid: str, include_shown: bool,
               limit: int) -> ToolOutput:
    """Candidates matching ``avoid`` move to the end (order otherwise kept)."""
    if ctx.bus.ids is None:
        return bus_output(ctx, f'nothing to push down for "{avoid}" yet (no candidates)',
                          pushed=0)
    within = visible(ctx, ctx.bus.ids, include_shown)
    bad = {h.item_id for h in index.search(avoid, n=len(within), within=within)}
    ids = ([i for i in within if i not in bad] + [i for i in within if i in bad])[:limit]
    n = len(ids)
    ctx.bus.rank("search_text", ids, [float(n - k) for k in range(n)], detail=f"less {avoid}")
    return bus_output(ctx, f'pushed down {len(bad)} of {len(within)} matching "{avoid}"',
                      pushed=len(bad))
