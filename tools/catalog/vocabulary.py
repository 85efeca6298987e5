"""What the catalog's words are: its most used tags, how tags spread over categories, the
distinct category sets, and the :class:`~tools.catalog.values.Vocabulary` the offline
planner reads messages against (the product's language comes from here, not from code)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Engine, func, select

from tools.catalog.columns import Columns
from tools.catalog.models import ItemTag, Tag
from tools.catalog.values import Vocabulary


def read_top_tags(engine: Engine, n: int) -> list[str]:
    """The ``n`` most used tags (summed counts), most used first, then by name."""
    stmt = (select(Tag.name).join(ItemTag, ItemTag.tag_id == Tag.id).group_by(Tag.name)
            .order_by(func.sum(ItemTag.count).desc(), Tag.name).limit(n))
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def read_tag_categories(engine: Engine, cols: Columns,
                        tags: Sequence[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """For each tag: how many items carry it, and how many of those are in each category
    (what the offline planner learns word -> category associations from)."""
    wanted = set(tags)
    by_tag: dict[str, list[int]] = {}
    stmt = select(Tag.name, ItemTag.item_id).join(ItemTag, ItemTag.tag_id == Tag.id)
    with engine.connect() as conn:
        for name, item_id in conn.execute(stmt):
            row = cols.index.get(item_id)
            if name in wanted and row is not None:
                by_tag.setdefault(name, []).append(row)
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for name, rows in by_tag.items():
        counts = np.asarray(cols.cats[np.asarray(rows)].sum(axis=0)).ravel()
        out[name] = (len(rows), {cols.cat_names[c]: int(n) for c, n in enumerate(counts)
                                 if n})
    return out


def category_sets(cols: Columns) -> dict[frozenset[str], tuple[int, tuple[int, ...]]]:
    """Each distinct category set among the items, with how many items have it and their
    known years (sorted): enough to tell whether a filter on categories and years can
    match anything without reading the items. Empty past 62 categories (bit masks)."""
    n_cats = len(cols.cat_names)
    if n_cats > 62 or not cols.ids.size:
        return {}
    bits = np.left_shift(np.int64(1), np.arange(n_cats, dtype=np.int64))
    masks = cols.cats.astype(np.int64) @ bits
    uniq, inverse = np.unique(np.asarray(masks).ravel(), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(uniq.size + 1))
    out: dict[frozenset[str], tuple[int, tuple[int, ...]]] = {}
    for k, mask in enumerate(uniq.tolist()):
        rows = order[bounds[k]:bounds[k + 1]]
        years = cols.year[rows]
        known = np.sort(years[~np.isnan(years)]).astype(int).tolist()
        names = frozenset(cols.cat_names[c] for c in range(n_cats) if mask >> c & 1)
        out[names] = (int(rows.size), tuple(known))
    return out


def build_vocabulary(cols: Columns, tags: list[str],
                     tag_categories: dict[str, tuple[int, dict[str, int]]]) -> Vocabulary:
    """The vocabulary over the cached columns and the given top ``tags``."""
    titles: dict[str, str] = {}
    for k in cols.pop_order.tolist():  # most popular first wins a shared title
        titles.setdefault(cols.norms[k], str(cols.ids[k]))
    years = cols.year[~np.isnan(cols.year)]
    title_years: dict[str, list[int]] = {}
    for k, key in enumerate(cols.norms):
        if not np.isnan(cols.year[k]):
            title_years.setdefault(key, []).append(int(cols.year[k]))
    sizes = np.asarray(cols.cats.sum(axis=0)).ravel()
    return Vocabulary(
        titles=titles, categories=list(cols.cat_names), tags=tags,
        year_min=int(years.min()) if years.size else None,
        year_max=int(years.max()) if years.size else None,
        tag_categories=tag_categories,
        category_sizes={name: int(sizes[c]) for c, name in enumerate(cols.cat_names)},
        title_years=title_years,
        category_sets=category_sets(cols),
    )
