"""The per-process numpy copy of the catalog's static columns.

The catalog is read-only while serving, so the numeric columns, the titles and the category
membership are read once and kept as arrays (row = position in ``ids``, items in id order):
structured filters over a large candidate set then run vectorised instead of shipping giant
``IN`` lists, and rows are what the candidate bus and the models align on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine, select

from tools.catalog.models import Category, Item, ItemCategory
from tools.catalog.text import normalize_title


@dataclass
class Columns:
    """Per-process numpy copy of the static columns (row = position in ``ids``)."""

    ids: np.ndarray  # str
    index: dict[str, int]
    titles: list[str]
    norms: list[str]
    by_norm: dict[str, list[int]]
    sorted_norms: list[str]  # for prefix search
    sorted_rows: np.ndarray
    year: np.ndarray  # float64, NaN = unknown
    rating_avg: np.ndarray  # float64, NaN = unrated
    rating_count: np.ndarray  # int64
    popularity: np.ndarray  # float64
    pop_pct: np.ndarray  # float64, 0-100 percentile rank of popularity
    pop_order: np.ndarray  # rows by popularity descending
    cat_names: list[str]
    cat_ids: list[int]  # database id per column of ``cats``
    cat_lookup: dict[str, int]  # casefolded name -> column
    cats: sp.csr_matrix  # bool, items x categories
    extra: dict[str, Any] = field(default_factory=dict)


def rows_of(cols: Columns, ids: Iterable[str]) -> np.ndarray:
    """Rows of the known ``ids``, in the order given (unknown ids left out)."""
    index = cols.index
    return np.fromiter((index[i] for i in ids if i in index), dtype=np.int64)


def load_columns(engine: Engine) -> Columns:
    """Read the static columns from the database (one pass, three selects)."""
    stmt = select(Item.item_id, Item.title, Item.title_norm, Item.year, Item.rating_avg,
                  Item.rating_count, Item.popularity).order_by(Item.item_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        cat_rows = conn.execute(
            select(Category.id, Category.name).order_by(Category.name)).all()
        links = conn.execute(select(ItemCategory.item_id, ItemCategory.category_id)).all()
    n = len(rows)
    ids = np.array([r[0] for r in rows], dtype=str) if n else np.empty(0, dtype=str)
    index = {r[0]: k for k, r in enumerate(rows)}
    titles = [r[1] for r in rows]
    norms = [r[2] or normalize_title(r[1]) for r in rows]
    by_norm: dict[str, list[int]] = {}
    for k, norm in enumerate(norms):
        by_norm.setdefault(norm, []).append(k)
    order = sorted(range(n), key=norms.__getitem__)
    sorted_norms = [norms[k] for k in order]
    sorted_rows = np.asarray(order, dtype=np.int64)
    year = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    rating_avg = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)
    rating_count = np.array([r[5] or 0 for r in rows], dtype=np.int64)
    popularity = np.array([r[6] or 0.0 for r in rows], dtype=np.float64)
    if n:
        # percentile rank: ties share the lowest rank, the most popular item is ~100
        sorted_pop = np.sort(popularity)
        pop_pct = 100.0 * np.searchsorted(sorted_pop, popularity, side="right") / n
    else:
        pop_pct = np.empty(0)
    pop_order = np.lexsort((np.arange(n), -popularity))
    cat_names = [r[1] for r in cat_rows]
    cat_ids = [r[0] for r in cat_rows]
    col_of = {cid: c for c, cid in enumerate(cat_ids)}
    r_idx = np.fromiter((index.get(i, -1) for i, _ in links), dtype=np.int64,
                        count=len(links))
    c_idx = np.fromiter((col_of.get(c, -1) for _, c in links), dtype=np.int64,
                        count=len(links))
    ok = (r_idx >= 0) & (c_idx >= 0)
    cats = sp.csr_matrix((np.ones(int(ok.sum()), dtype=bool), (r_idx[ok], c_idx[ok])),
                         shape=(n, len(cat_names)), dtype=bool)
    return Columns(ids, index, titles, norms, by_norm, sorted_norms, sorted_rows, year,
                   rating_avg, rating_count, popularity, pop_pct, pop_order, cat_names,
                   cat_ids, {name.casefold(): c for c, name in enumerate(cat_names)}, cats)
