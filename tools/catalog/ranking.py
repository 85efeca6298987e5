"""Whole-catalog rankings over the cached columns: popularity, or a rating average shrunk
toward the catalog mean so a single 5-star rating does not win. Vectorised: only the
winners ever become Python strings (in the caller)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from tools.catalog.columns import Columns

RankBy = Literal["popularity", "rating"]


def popularity_score_rows(cols: Columns, rows: np.ndarray,
                          by: RankBy = "popularity") -> np.ndarray:
    """Popularity, or the shrunk rating average, of the items at ``rows``."""
    if by == "popularity":
        popularity: np.ndarray = cols.popularity[rows]
        return popularity
    counts = cols.rating_count[rows].astype(np.float64)
    avg = np.nan_to_num(cols.rating_avg[rows], nan=0.0)
    prior = cols.extra.get("rating_prior")
    if prior is None:
        rated = cols.rating_count > 0
        mean = float(np.nanmean(cols.rating_avg[rated])) if rated.any() else 0.0
        weight = max(1.0, float(np.median(cols.rating_count[rated]))) if rated.any() \
            else 1.0
        prior = cols.extra["rating_prior"] = (mean, weight)
    mean, weight = prior
    return np.asarray((weight * mean + counts * avg) / (weight + counts))


def top_popular_rows(cols: Columns, n: int, by: RankBy = "popularity",
                     skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best rows of the whole catalog by ``by`` (leaving out the rows ``skip``),
    best first (ties: storage order), with their scores."""
    total = len(cols.ids)
    if skip is None:
        skip = np.empty(0, dtype=np.int64)
    if by == "popularity":
        rows = cols.pop_order[: n + skip.size]
    else:
        scores = popularity_score_rows(cols, np.arange(total), by)
        k = min(n + skip.size, total)
        rows = np.argpartition(-scores, k - 1)[:k] if 0 < k < total else np.arange(total)
    if skip.size:
        rows = rows[~np.isin(rows, skip)]
    scores = popularity_score_rows(cols, rows, by)
    order = np.lexsort((rows, -scores))[:n]
    return rows[order], scores[order]
