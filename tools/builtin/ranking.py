"""``similar_items``, ``rank_for_user``, ``rank_by_popularity``: ordering the candidates."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from tools.builtin.common import (
    bus_output,
    known_ids,
    labels,
    row_maps,
    top_order,
    visible_rows,
)
from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.recommenders.base import Recommender
from tools.recommenders.common import MatrixRecommender
from tools.spec import Ctx, ToolOutput, tool

Limit = Annotated[int, Field(ge=1, le=1000)]
OPEN_BUS_LIMIT = 200  # ranking the whole catalog keeps this many unless told otherwise


def _model(ctx: ToolContext, name: str | None) -> Recommender:
    try:
        return ctx.models.get(name)
    except LookupError as exc:
        raise ModelRetry(str(exc)) from None


def _rank(ctx: ToolContext, tool_name: str, rows: np.ndarray, scores: np.ndarray,
          limit: int | None, detail: str) -> None:
    """Rank the catalog ``rows`` by ``scores`` (items a model cannot score go last, equal
    scores keep the bus order), keep ``limit``."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if finite.any() and not finite.all():
        scores = np.where(finite, scores, scores[finite].min() - 1.0)
    elif not finite.any():
        scores = np.zeros_like(scores)
    order = top_order(scores, limit)
    ctx.bus.rank_rows(tool_name, rows[order], scores[order], detail=detail)


def _model_scores(ctx: ToolContext, model: Recommender, rows: np.ndarray, user: str | None,
                  liked: list[str]) -> np.ndarray:
    """``model.score`` of the catalog ``rows``: on the model's rows directly when it can
    (no item id per candidate), else through the ids."""
    if isinstance(model, MatrixRecommender):
        to_model, _ = row_maps(ctx, model)
        own = rows if to_model is None else to_model[rows]
        return model.score_rows(own, user_id=user, liked=liked)
    ids = ctx.catalog.columns.ids[rows].tolist()
    return np.asarray(model.score(ids, user_id=user, liked=liked), dtype=np.float64)


def _similar(ctx: ToolContext, model: Recommender, seeds: list[str], limit: int,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``model.similar_items(seeds, limit, candidates=rows)`` as (catalog rows, scores)."""
    if isinstance(model, MatrixRecommender):
        to_model, from_model = row_maps(ctx, model)
        own = rows if to_model is None else to_model[rows]
        found, scores = model.similar_rows(seeds, limit, own, unique=True)  # bus rows
        return (found if from_model is None else from_model[found]), scores
    cols = ctx.catalog.columns
    hits = model.similar_items(seeds, n=limit, candidates=cols.ids[rows].tolist())
    return (ctx.catalog.rows([h.item_id for h in hits]),
            np.array([h.score for h in hits], dtype=np.float64))


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
    exclude = set(seeds) | (set() if include_shown else ctx.hidden_ids())
    if ctx.bus.rows is None:
        hits = model.similar_items(seeds, n=limit + len(exclude))
        hits = [h for h in hits if h.item_id not in exclude][:limit]
        ids = [h.item_id for h in hits]
        ctx.bus.set("similar_items", ids, [h.score for h in hits],
                    detail=f"like {labels(ctx, seeds[:3])}")
    else:
        within = visible_rows(ctx, include_shown)
        within = within[~np.isin(within, ctx.catalog.rows(seeds))]
        if not within.size:
            return bus_output(ctx, "no candidate left besides the seeds", matched=0)
        rows, scores = _similar(ctx, model, seeds, limit, within)
        if rows.size < limit:  # candidates the model cannot score go last
            rest = within[~np.isin(within, rows)][:limit - rows.size]
            floor = (float(scores.min()) if scores.size else 0.0) - 1.0
            rows = np.concatenate([rows, rest])
            scores = np.concatenate([scores, np.full(rest.size, floor)])
        ctx.bus.rank_rows("similar_items", rows, scores,
                          detail=f"like {labels(ctx, seeds[:3])}")
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
    if ctx.bus.rows is None:
        n = limit or OPEN_BUS_LIMIT
        if user is not None:
            hits = model.recommend(user, n=n + len(exclude))
        else:
            hits = model.recommend_for_items(liked, n=n + len(exclude))
        hits = [h for h in hits if h.item_id not in exclude][:n]
        ctx.bus.set("rank_for_user", [h.item_id for h in hits], [h.score for h in hits],
                    detail=basis)
    else:
        within = visible_rows(ctx, include_shown)
        if not within.size:
            return bus_output(ctx, "no candidate to rank", matched=0)
        scores = _model_scores(ctx, model, within, user, [] if user else liked)
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
    if ctx.bus.rows is None:
        hidden = np.empty(0, dtype=np.int64) if include_shown else ctx.hidden_rows()
        rows, scores = ctx.catalog.top_popular_rows(limit or OPEN_BUS_LIMIT, by, hidden)
        ctx.bus.rank_rows("rank_by_popularity", rows, scores, detail=by)
    else:
        within = visible_rows(ctx, include_shown)
        scores = ctx.catalog.popularity_score_rows(within, by)
        _rank(ctx, "rank_by_popularity", within, scores, limit, by)
    return bus_output(ctx, f"ranked by {by}")
