"""Offline evaluation: temporal leave-last-out, every model side by side.

Protocol. For every user with at least two interactions, the most recent one (largest
timestamp; ties and missing timestamps broken by a seeded shuffle) is held out as the test
item and the models are fitted on everything else. Each model then ranks the full catalog
(every item in the training split) minus the items the user has already interacted with in
training. Metrics, averaged over the evaluated users:

- ``hr@10``: share of users whose test item is in their top 10;
- ``ndcg@10``: ``1 / log2(rank + 2)`` for a hit at 0-based ``rank``, else 0;
- ``recall@20``: share of the held-out items found in the top 20 (one per user, so it is the
  hit rate at 20);
- ``coverage@10``: share of the catalog that appears in at least one user's top 10.

A test item absent from the training split cannot be ranked and counts as a miss; so does a
user left with no training interaction after ``min_rating``.

Ranking is batched (:func:`top_n`): the latent-factor models and popularity go through
implicit's multi-threaded top-k (``implicit.cpu.topk``, what its ``recommend()`` uses: one
matrix product and a heap per user, the user's training items filtered inside), item-kNN
through the sparse product of the users' histories with the similarity matrix; no dense
score matrix is partitioned. Equal scores are ordered by catalog order (item index).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.topk import topk

from tools.recommenders.common import FactorRecommender, MatrixRecommender
from tools.recommenders.data import InteractionLog
from tools.recommenders.itemknn import ItemKNNRecommender
from tools.recommenders.popularity import PopularityRecommender
from tools.recommenders.registry import DEFAULT_MODELS, make_model

K_HIT = 10
K_RECALL = 20
METRICS = ("hr@10", "ndcg@10", "recall@20", "coverage@10")
_TOPK_BATCH = 16_384  # users per implicit topk call (its output is small; it batches inside)
_SPARSE_BATCH = 2_048  # users per sparse history x similarity product
_FILTERED = np.finfo(np.float32).min  # the score implicit's topk gives filtered items


def leave_last_out(log: InteractionLog, *, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """(train mask over log rows, test row index per evaluated user)."""
    n = len(log)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, log.ts, log.users))
    sorted_users = log.users[order]
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = sorted_users[:-1] != sorted_users[1:]
    counts = np.bincount(log.users, minlength=len(log.user_ids))
    last_rows = order[is_last]
    test_rows = last_rows[counts[log.users[last_rows]] >= 2]
    train = np.ones(n, dtype=bool)
    train[test_rows] = False
    return train, np.sort(test_rows)


def evaluate(
    log: InteractionLog,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    seed: int = 42,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    min_rating: float | None = None,
    max_users: int | None = None,
) -> dict[str, Any]:
    """Fit every model on the training split and score it; returns the results dict.

    ``max_users``: rank only that many users, sampled with ``seed`` (the fits still use
    the whole training split)."""
    train_mask, test_rows = leave_last_out(log, seed=seed)
    if test_rows.size == 0:
        raise ValueError("nothing to evaluate: no user has two or more interactions")
    if max_users is not None and test_rows.size > max_users:
        pick = np.random.default_rng(seed).choice(test_rows.size, max_users, replace=False)
        test_rows = np.sort(test_rows[pick])
    train = log.subset(train_mask).to_data(min_rating=min_rating, fingerprint="")

    user_pos = np.full(len(log.user_ids), -1, dtype=np.int64)
    user_pos[np.searchsorted(log.user_ids, train.user_ids)] = np.arange(len(train.user_ids))
    item_pos = np.full(len(log.item_ids), -1, dtype=np.int64)
    item_pos[np.searchsorted(log.item_ids, train.item_ids)] = np.arange(len(train.item_ids))
    rows = user_pos[log.users[test_rows]]
    targets = item_pos[log.items[test_rows]]
    rankable = rows >= 0
    n_eval = int(test_rows.size)

    result: dict[str, Any] = {
        "protocol": "temporal leave-last-out; full catalog minus the user's seen items",
        "interactions": len(log),
        "train_interactions": int(train.matrix.nnz),
        "users": n_eval,
        "items": len(train.item_ids),
        "fingerprint": log.fingerprint(),
        "seed": seed,
        "min_rating": min_rating,
        "models": {},
    }
    for name in models:
        model_params = dict((params or {}).get(name, {}))
        model = make_model(name, seed=seed, **model_params)
        start = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        top = np.full((n_eval, K_RECALL), -1, dtype=np.int64)
        top[rankable] = top_n(model, rows[rankable], K_RECALL)
        eval_s = time.perf_counter() - start
        hit = (top == targets[:, None]) & (targets[:, None] >= 0)
        rank = np.where(hit.any(axis=1), hit.argmax(axis=1), K_RECALL)
        top10 = top[:, :K_HIT]
        shown = np.unique(top10[top10 >= 0])
        result["models"][name] = {
            "hr@10": float(np.mean(rank < K_HIT)),
            "ndcg@10": float(np.mean(np.where(rank < K_HIT, 1.0 / np.log2(rank + 2.0), 0.0))),
            "recall@20": float(np.mean(rank < K_RECALL)),
            "coverage@10": float(shown.size / max(len(train.item_ids), 1)),
            "fit_s": round(fit_s, 3),
            "rank_s": round(eval_s, 3),
            "params": model.params,
        }
    return result


def top_n(model: MatrixRecommender, rows: np.ndarray, n: int) -> np.ndarray:
    """(len(rows), n) item indices of the top n for the training users at ``rows``, best
    first, the user's training items excluded; -1 pads when fewer items are left.

    Exactly ``model.top_n_rows(rows, n)``, batched: the n + 1 best come from implicit's
    top-k (factor models, popularity) or the sparse product (item-kNN); a user whose n-th
    and (n + 1)-th scores are equal (a tie straddling the cut, common with popularity's
    counts) or who has too few positive item-kNN scores is ranked by ``top_n_rows``, so
    which tied item makes the cut is decided as it always was."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(model, FactorRecommender):
        ids, scores = _dot_top_k(model.item_factors, model.user_factors[rows],
                                 model.user_items[rows], n + 1)
    elif isinstance(model, PopularityRecommender):
        ids, scores = _dot_top_k(model.popularity.astype(np.float32)[:, None],
                                 np.ones((rows.shape[0], 1), dtype=np.float32),
                                 model.user_items[rows], n + 1)
    elif isinstance(model, ItemKNNRecommender):
        ids, scores = _sparse_top_k(model.user_items, model.similarity, rows, n + 1)
    else:
        return model.top_n_rows(rows, n)
    out = ids[:, :n].copy()
    redo = np.isnan(scores[:, n]) | (np.isfinite(scores[:, n - 1])
                                     & (scores[:, n - 1] == scores[:, n]))
    if redo.any():
        out[redo] = model.top_n_rows(rows[redo], n)
    return out


def _dot_top_k(items: np.ndarray, users: np.ndarray, seen: sp.csr_matrix,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of ``users @ items.T`` per row, ``seen`` items removed (implicit's
    topk): (ids, scores), best first, equal scores in catalog order, -1 / -inf padded."""
    ids_out = np.full((users.shape[0], k), -1, dtype=np.int64)
    scores_out = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
    width = min(k, items.shape[0])
    items = np.ascontiguousarray(items, dtype=np.float32)
    for start in range(0, users.shape[0], _TOPK_BATCH):
        stop = min(start + _TOPK_BATCH, users.shape[0])
        ids, scores = topk(items, np.ascontiguousarray(users[start:stop], dtype=np.float32),
                           width, filter_query_items=sp.csr_matrix(seen[start:stop]))
        ids = ids.astype(np.int64)
        order = np.lexsort((ids, -scores), axis=1)
        ids = np.take_along_axis(ids, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        gone = scores <= _FILTERED
        ids[gone] = -1
        scores[gone] = -np.inf
        ids_out[start:stop, :width] = ids
        scores_out[start:stop, :width] = scores
    return ids_out, scores_out


def _sparse_top_k(user_items: sp.csr_matrix, similarity: sp.csr_matrix, rows: np.ndarray,
                  k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive scores of ``user_items[rows] @ similarity`` per row, seen items
    removed: (ids, scores) as :func:`_dot_top_k`; a row with fewer than k positive scores
    gets NaN scores (the caller ranks it densely). The product is sparse: only the
    neighbours of a user's history score."""
    n_items = similarity.shape[1]
    ids_out = np.full((rows.shape[0], k), -1, dtype=np.int64)
    scores_out = np.full((rows.shape[0], k), np.nan, dtype=np.float32)
    for start in range(0, rows.shape[0], _SPARSE_BATCH):
        seen = sp.csr_matrix(user_items[rows[start:start + _SPARSE_BATCH]], dtype=np.float32)
        b = seen.shape[0]
        product = sp.coo_matrix(seen @ similarity)
        r = product.row.astype(np.int64)
        c = product.col.astype(np.int64)
        v = product.data.astype(np.float32)
        seen_coo = seen.tocoo()
        seen_keys = seen_coo.row.astype(np.int64) * n_items + seen_coo.col
        keep = (v > 0) & ~np.isin(r * n_items + c, seen_keys)
        r, c, v = r[keep], c[keep], v[keep]
        order = np.argsort(r, kind="stable")
        r, c, v = r[order], c[order], v[order]
        counts = np.bincount(r, minlength=b)
        # each user's k-th best score: only the entries at or above it need sorting
        ends = np.cumsum(counts)
        floor = np.full(b, np.inf, dtype=np.float32)
        for i in np.flatnonzero(counts >= k):
            seg = v[ends[i] - counts[i]:ends[i]]
            floor[i] = np.partition(seg, seg.shape[0] - k)[seg.shape[0] - k]
        best = v >= floor[r]
        r, c, v = r[best], c[best], v[best]
        order = np.lexsort((c, -v, r))  # by user, best first, equal scores in catalog order
        r, c, v = r[order], c[order], v[order]
        counts = np.bincount(r, minlength=b)
        pos = np.arange(r.shape[0]) - (np.cumsum(counts) - counts)[r]
        first = pos < k
        ids_out[start + r[first], pos[first]] = c[first]
        scores_out[start + r[first], pos[first]] = v[first]
    return ids_out, scores_out


def format_table(result: Mapping[str, Any]) -> str:
    """The results as a Markdown table (one row per model)."""
    header = ["model", *METRICS, "fit s"]
    lines = [
        f"{result['protocol']}: {result['users']} users, {result['items']} items, "
        f"{result['interactions']} interactions",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for name, m in result["models"].items():
        cells = [name, *(f"{m[key]:.4f}" for key in METRICS), f"{m['fit_s']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
