"""Picking the n best: a partition finds them (O(number of scores)), then only they are
sorted; equal scores go in catalog order (the lower row first), so output is deterministic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

_BATCH = 1024  # users scored at once in batch ranking
_BIG_POOL = 50_000  # rankings over at least this many scores take the value-partition path


def top_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest scores: the same set as
    ``np.argpartition(-scores, n - 1)[:n]``, which is what decides ties straddling the
    n-th place. On a large array, a partition of the values (no negated copy, no index
    array) finds the n-th value first; only when ties straddle it is argpartition run."""
    if scores.size >= _BIG_POOL:
        kth = np.partition(scores, scores.size - n)[scores.size - n]
        best = scores >= kth
        if np.count_nonzero(best) == n:
            return np.flatnonzero(best)
    return np.argpartition(-scores, n - 1)[:n]


def ranked_rows(pool: np.ndarray | None, scores: np.ndarray, n: int,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The n best of ``scores`` (aligned with the item rows ``pool``; None: every item,
    minus the rows ``exclude``) as (item rows, float64 scores), best first, equal scores
    in catalog order; non-finite scores are dropped."""
    if n <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(scores)
    if pool is None and exclude.size:
        keep[exclude] = False
    if not keep.all():
        rows = np.flatnonzero(keep)
        pool = rows if pool is None else pool[rows]
        scores = scores[rows]
        if scores.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if n < scores.size:
        part = top_positions(scores, n)
        pool = part if pool is None else pool[part]
        scores = scores[part]
    elif pool is None:
        pool = np.arange(scores.size)
    order = np.lexsort((pool, -scores))
    return pool[order], scores[order]


def top_n_per_user(user_scores: Callable[[np.ndarray], np.ndarray], user_items: sp.csr_matrix,
                   rows: np.ndarray, n: int, *, exclude_seen: bool = True) -> np.ndarray:
    """(len(rows), n) item indices of the top-n for the users at ``rows``, best first
    (-1 pads when fewer items are left); ``user_scores`` scores a batch of user rows over
    every item, ``user_items`` holds what each user has seen."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full((rows.shape[0], n), -1, dtype=np.int64)
    for start in range(0, rows.shape[0], _BATCH):
        batch = rows[start:start + _BATCH]
        scores = np.array(user_scores(batch), dtype=np.float32)
        if exclude_seen:
            seen = user_items[batch]
            scores[np.repeat(np.arange(batch.shape[0]), np.diff(seen.indptr)),
                   seen.indices] = -np.inf
        k = min(n, scores.shape[1])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] \
            else np.tile(np.arange(scores.shape[1]), (batch.shape[0], 1))
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        best = np.take_along_axis(part, order, axis=1)
        best_scores = np.take_along_axis(part_scores, order, axis=1)
        best[~np.isfinite(best_scores)] = -1
        out[start:start + batch.shape[0], :k] = best
    return out
