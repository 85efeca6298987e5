"""Structured filters (:class:`~tools.catalog.values.ItemFilter`) evaluated vectorised over
the cached columns: boolean masks over rows, no SQL (tags aside, which the caller supplies).

The same filter also compiles to SQL (:mod:`tools.catalog.filter_sql`); both give the same
rows, which ``tests/tools/test_bus.py`` checks on random filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from tools.catalog.columns import Columns, rows_of
from tools.catalog.values import ItemFilter


def numpy_mask(cols: Columns, f: ItemFilter, within: np.ndarray | None,
               tag_rows: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    """Which of the rows ``within`` (None: every row, storage order) pass ``f`` (canonical
    category names, no attribute conditions); ``tag_rows`` gives the sorted rows carrying
    every one of some tags."""
    if f.attributes:
        raise ValueError("attribute conditions need the SQL path")
    # the open case evaluates over all rows in storage order (no gathers)
    every = within is None
    rows = np.arange(len(cols.ids)) if within is None else np.asarray(within, np.int64)

    def col(values: np.ndarray) -> np.ndarray:
        return values if every else values[rows]

    keep = np.ones(rows.shape[0], dtype=bool)
    keep_by_columns(cols, f, keep, col)
    if f.tags_all:
        tagged = tag_rows(f.tags_all)
        if every:
            keep &= np.isin(rows, tagged, assume_unique=True)
        else:
            keep &= np.isin(rows, tagged)
    if f.exclude_ids:
        excluded = rows_of(cols, f.exclude_ids)
        if excluded.size:
            if every:
                keep[excluded] = False
            else:
                keep &= ~np.isin(rows, excluded)
    return keep


def keep_by_columns(cols: Columns, f: ItemFilter, keep: np.ndarray,
                    col: Callable[[np.ndarray], np.ndarray]) -> None:
    """``keep`` (in place) narrowed by ``f``'s category, year, rating and popularity
    conditions; ``col`` gathers an all-rows column at the rows ``keep`` is over."""
    if f.categories_any:
        keep &= col(category_mask(cols, f.categories_any, "any"))
    if f.categories_all:
        keep &= col(category_mask(cols, f.categories_all, "all"))
    if f.categories_none:
        keep &= ~col(category_mask(cols, f.categories_none, "any"))
    if f.year_min is not None:
        keep &= col(cols.year) >= f.year_min  # NaN compares False: unknown year fails
    if f.year_max is not None:
        keep &= col(cols.year) <= f.year_max
    if f.min_rating is not None:
        keep &= col(cols.rating_avg) >= f.min_rating
    if f.min_rating_count is not None:
        keep &= col(cols.rating_count) >= f.min_rating_count
    lo, hi = popularity_bounds(cols, f)
    if lo is not None:
        keep &= col(cols.popularity) >= lo
    if hi is not None:
        keep &= col(cols.popularity) <= hi


def category_mask(cols: Columns, names: list[str], how: Literal["any", "all"]) -> np.ndarray:
    """Boolean mask over all rows: items in any / all of the (canonical) categories."""
    wanted = list(dict.fromkeys(cols.cat_lookup[name.casefold()] for name in names))
    if len(wanted) == 1:
        return one_category(cols, wanted[0])  # read-only: callers combine into new arrays
    out = one_category(cols, wanted[0]).copy()
    for c in wanted[1:]:
        if how == "any":
            out |= one_category(cols, c)
        else:
            out &= one_category(cols, c)
    return out


def one_category(cols: Columns, c: int) -> np.ndarray:
    """Boolean mask over all rows: items in category column ``c`` (cached per process,
    one byte per item and category; read-only)."""
    masks: dict[int, np.ndarray] = cols.extra.setdefault("cat_masks", {})
    mask = masks.get(c)
    if mask is None:
        csc = cols.extra.get("cats_csc")
        if csc is None:
            csc = cols.extra["cats_csc"] = cols.cats.tocsc()
        mask = np.zeros(len(cols.ids), dtype=bool)
        mask[csc.indices[csc.indptr[c]:csc.indptr[c + 1]]] = True
        mask.flags.writeable = False
        masks[c] = mask
    return mask


def popularity_bounds(cols: Columns, f: ItemFilter) -> tuple[float | None, float | None]:
    """Percentile conditions -> popularity thresholds (so SQL can use the index)."""
    n = len(cols.ids)
    lo = hi = None
    if n and f.popularity_pct_min is not None:
        ok = cols.pop_pct >= f.popularity_pct_min
        lo = float(cols.popularity[ok].min()) if ok.any() else float("inf")
    if n and f.popularity_pct_max is not None:
        ok = cols.pop_pct <= f.popularity_pct_max
        hi = float(cols.popularity[ok].max()) if ok.any() else float("-inf")
    return lo, hi
