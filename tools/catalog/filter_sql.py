"""Structured filters compiled to SQL (SQLAlchemy Core): the path for conditions the cached
columns do not hold (item attributes), and the reference the vectorised path is checked
against. Whatever the model supplies only ever reaches SQL as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, exists, func, not_, select

from tools.catalog.columns import Columns, rows_of
from tools.catalog.filtering import popularity_bounds
from tools.catalog.models import Item, ItemCategory, ItemTag, Tag
from tools.catalog.values import ItemFilter

SQL_IN_LIMIT = 1000  # a `within` longer than this is intersected in Python, not IN (...)


def filter_statement(cols: Columns, f: ItemFilter, within: Sequence[str] | None = None) -> Any:
    """``f`` compiled to a select of item ids, most popular first (bound parameters only).
    Category names must already be canonical."""
    conds: list[Any] = []

    def has_category(names: list[str]) -> Any:
        ids = [cols.cat_ids[cols.cat_lookup[n.casefold()]] for n in names]
        return exists().where(and_(ItemCategory.item_id == Item.item_id,
                                   ItemCategory.category_id.in_(ids)))

    if f.categories_any:
        conds.append(has_category(f.categories_any))
    for name in dict.fromkeys(f.categories_all):
        conds.append(has_category([name]))
    for tag in dict.fromkeys(f.tags_all):
        conds.append(exists(
            select(ItemTag.item_id).join(Tag, Tag.id == ItemTag.tag_id)
            .where(ItemTag.item_id == Item.item_id, func.lower(Tag.name) == tag.casefold())))
    if f.categories_none:
        conds.append(not_(has_category(f.categories_none)))
    conds += column_conditions(cols, f)
    conds += attribute_conditions(f.attributes)
    if within is not None:
        conds.append(Item.item_id.in_(list(within)))
    return (select(Item.item_id).where(and_(True, *conds))
            .order_by(Item.popularity.desc(), Item.item_id))


def column_conditions(cols: Columns, f: ItemFilter) -> list[Any]:
    """``f``'s year, rating, popularity and excluded-id conditions as SQL conditions."""
    conds: list[Any] = []
    if f.year_min is not None:
        conds.append(Item.year >= f.year_min)
    if f.year_max is not None:
        conds.append(Item.year <= f.year_max)
    if f.min_rating is not None:
        conds.append(Item.rating_avg >= f.min_rating)
    if f.min_rating_count is not None:
        conds.append(Item.rating_count >= f.min_rating_count)
    lo, hi = popularity_bounds(cols, f)
    if lo is not None:
        conds.append(Item.popularity >= lo)
    if hi is not None:
        conds.append(Item.popularity <= hi)
    if f.exclude_ids:
        conds.append(Item.item_id.not_in(list(f.exclude_ids)))
    return conds


def attribute_conditions(attributes: dict[str, str | int | float | bool]) -> list[Any]:
    """Attribute equality conditions as SQL conditions on the JSON column, by value type."""
    conds: list[Any] = []
    for key, value in attributes.items():
        path = Item.attributes[key]
        if isinstance(value, bool):
            conds.append(path.as_boolean() == value)
        elif isinstance(value, int | float):
            conds.append(path.as_float() == float(value))
        else:
            conds.append(path.as_string() == value)
    return conds


def sql_mask(engine: Engine, cols: Columns, f: ItemFilter,
             within: np.ndarray | None) -> np.ndarray:
    """Which of the rows ``within`` (None: every row) pass ``f``, evaluated in SQL; a large
    ``within`` is intersected here rather than sent as an ``IN`` list."""
    small = within is not None and len(within) <= SQL_IN_LIMIT
    ids = None if within is None or not small else cols.ids[within].tolist()
    stmt = filter_statement(cols, f, ids)
    with engine.connect() as conn:
        passing = rows_of(cols, conn.execute(stmt).scalars())
    if within is None:
        keep = np.zeros(len(cols.ids), dtype=bool)
        keep[passing] = True
        return keep
    return np.isin(within, passing)


def items_with_tags(engine: Engine, tags: Sequence[str]) -> set[str]:
    """Ids of the items carrying every one of ``tags`` (names compared case-blind)."""
    wanted = list(dict.fromkeys(t.casefold() for t in tags))
    if not wanted:
        return set()
    stmt = (select(ItemTag.item_id).join(Tag, Tag.id == ItemTag.tag_id)
            .where(func.lower(Tag.name).in_(wanted)).group_by(ItemTag.item_id)
            .having(func.count(func.distinct(func.lower(Tag.name))) == len(wanted)))
    with engine.connect() as conn:
        return {str(i) for i in conn.execute(stmt).scalars()}
