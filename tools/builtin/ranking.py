"""``similar_items``, ``rank_for_user``, ``rank_by_popularity``: ordering the candidates."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from tools.builtin.common import bus_output, known_ids, labels, visible
from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.recommenders.base import Recommender
from tools.registry import Ctx, ToolOutput, tool

Limit = Annotated[int, Field(ge=1, le=1000)]
OPEN_BUS_LIMIT = 200  # ranking the whole catalog keeps this many unless told otherwise


def _model(ctx: ToolContext, name: str | None) -> Recommender:
    try:
        return ctx.models.get(name)
    except LookupError as exc:
        raise ModelRetry(str(exc)) from None


def _rank(ctx: ToolContext, tool_name: str, ids: list[str], scores: np.ndarray,
          limit: int | None, detail: str) -> None:
    """Rank ``ids`` by ``scores`` (items a model cannot score go last), keep ``limit``."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if finite.any() and not finite.all():
        scores = np.where(finite, scores, scores[finite].min() - 1.0)
    elif not finite.any():
        scores = np.zeros_like(scores)
    order = np.lexsort((np.arange(len(ids)), -scores))
    if limit is not None:
        order = order[:limit]
    ctx.bus.rank(tool_name, [ids[k] for k in order], scores[order], detail=detail)


@tool
def similar_items(
    ctx: Ctx,
    item_ids: list[str] | None = None,
    limit: Limit = 100,
    include_shown: bool = False,
) -> ToolOutput:
    """Candidates most similar to seed items by who liked them (collaborative).

    Args:
        item_ids: seed item ids; default: the items found by lookup_items.
        limit: most candidates to keep.
        include_shown: keep items already shown or disliked.
    """
    seeds = known_ids(ctx, item_ids) if item_ids else list(ctx.bus.mentioned)
    if not seeds and ctx.notes.unresolved:
        return ToolOutput(text="no seed item was found in the catalog; candidates unchanged")
    if not seeds:
        raise ModelRetry("no seed items: pass item_ids, or call lookup_items first")
    model = _model(ctx, None)
    within = None if ctx.bus.ids is None else visible(ctx, ctx.bus.ids, include_shown)
    exclude = set(seeds) | (set() if include_shown else ctx.hidden_ids())
    if within is None:
        hits = model.similar_items(seeds, n=limit + len(exclude))
        hits = [h for h in hits if h.item_id not in exclude][:limit]
        ids = [h.item_id for h in hits]
        ctx.bus.set("similar_items", ids, [h.score for h in hits],
                    detail=f"like {labels(ctx, seeds[:3])}")
    else:
        within = [i for i in within if i not in exclude]
        if not within:
            return bus_output(ctx, "no candidate left besides the seeds", matched=0)
        hits = model.similar_items(seeds, n=limit, candidates=within)
        ids = [h.item_id for h in hits]
        scores = [h.score for h in hits]
        if len(ids) < limit:  # candidates the model cannot score go last
            got = set(ids)
            rest = [i for i in within if i not in got][:limit - len(ids)]
            floor = min(scores, default=0.0) - 1.0
            ids, scores = ids + rest, scores + [floor] * len(rest)
        ctx.bus.rank("similar_items", ids, scores, detail=f"like {labels(ctx, seeds[:3])}")
    return bus_output(ctx, f"similar to {labels(ctx, seeds[:3])} ({model.name})",
                      seeds=seeds)


@tool
def rank_for_user(ctx: Ctx, limit: Limit | None = None, include_shown: bool = False
                  ) -> ToolOutput:
    """Order candidates by this user's taste (their history, or the session's likes).

    Args:
        limit: most candidates to keep (default: all; 200 on the whole catalog).
        include_shown: keep items already shown or disliked.
    """
    model = _model(ctx, None)
    user = ctx.user_id if ctx.user_id is not None and model.knows_user(ctx.user_id) else None
    liked = list(ctx.session.profile.liked) or list(ctx.bus.mentioned)
    basis = (f"user {user}'s history" if user is not None
             else f"liked {labels(ctx, liked[:3])}" if liked else "overall preference")
    exclude = set() if include_shown else ctx.hidden_ids()
    if ctx.bus.ids is None:
        n = limit or OPEN_BUS_LIMIT
        if user is not None:
            hits = model.recommend(user, n=n + len(exclude))
        else:
            hits = model.recommend_for_items(liked, n=n + len(exclude))
        hits = [h for h in hits if h.item_id not in exclude][:n]
        ctx.bus.set("rank_for_user", [h.item_id for h in hits], [h.score for h in hits],
                    detail=basis)
    else:
        within = visible(ctx, ctx.bus.ids, include_shown)
        if not within:
            return bus_output(ctx, "no candidate to rank", matched=0)
        scores = model.score(within, user_id=user, liked=[] if user else liked)
        _rank(ctx, "rank_for_user", within, scores, limit, basis)
    return bus_output(ctx, f"ranked by {basis} ({model.name})", basis=basis, user=user)


@tool
def rank_by_popularity(
    ctx: Ctx,
    by: Literal["popularity", "rating"] = "popularity",
    limit: Limit | None = None,
    include_shown: bool = False,
) -> ToolOutput:
    """Order candidates by popularity or by (well-supported) average rating.

    Args:
        by: popularity (most interactions) or rating (average, shrunk for few ratings).
        limit: most candidates to keep (default: all; 200 on the whole catalog).
        include_shown: keep items already shown or disliked.
    """
    if ctx.bus.ids is None:
        hidden = set() if include_shown else ctx.hidden_ids()
        ids, scores = ctx.catalog.top_popular(limit or OPEN_BUS_LIMIT, by, exclude=hidden)
        ctx.bus.rank("rank_by_popularity", ids, scores, detail=by)
    else:
        within = visible(ctx, ctx.bus.ids, include_shown)
        ids, scores = ctx.catalog.popularity_scores(within, by=by)
        _rank(ctx, "rank_by_popularity", ids, scores, limit, by)
    return bus_output(ctx, f"ranked by {by}")
