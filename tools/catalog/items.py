"""Per-item reads that the cached columns do not hold: an item's full facts (description,
attributes, top tags) and a user's interaction history. One round trip per chunk of ids;
the caller (:class:`~tools.catalog.repository.SqlCatalog`) keeps bounded caches of both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select

from tools.catalog.filter_sql import SQL_IN_LIMIT
from tools.catalog.models import Interaction, Item, ItemTag, Tag
from tools.catalog.values import ItemView


def read_item_views(engine: Engine, wanted: list[str], n_tags: int,
                    item_categories: Callable[[str], list[str]]) -> dict[str, ItemView]:
    """Facts about the ``wanted`` ids (absent ones left out), with their ``n_tags`` most
    given tags; ``item_categories`` names an item's categories (from the cached columns)."""
    out: dict[str, ItemView] = {}
    tags: dict[str, list[tuple[int, str]]] = {i: [] for i in wanted}
    rows: dict[str, Any] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), SQL_IN_LIMIT):
            chunk = wanted[start:start + SQL_IN_LIMIT]
            # one round trip: the items with their tags outer-joined
            stmt = (select(Item.item_id, Item.title, Item.year, Item.rating_avg,
                           Item.rating_count, Item.popularity, Item.description,
                           Item.attributes, Tag.name.label("tag_name"),
                           ItemTag.count.label("tag_count"))
                    .select_from(Item)
                    .outerjoin(ItemTag, ItemTag.item_id == Item.item_id)
                    .outerjoin(Tag, Tag.id == ItemTag.tag_id)
                    .where(Item.item_id.in_(chunk)))
            for row in conn.execute(stmt):
                rows.setdefault(row.item_id, row)
                if row.tag_name is not None:
                    tags[row.item_id].append((-(row.tag_count or 1), row.tag_name))
    for i in wanted:
        r = rows.get(i)
        if r is None:
            continue
        top = [name for _c, name in sorted(tags[i])[:n_tags]]
        out[i] = ItemView(
            item_id=i, title=r.title, year=r.year, categories=item_categories(i),
            tags=top, rating_avg=None if r.rating_avg is None else round(r.rating_avg, 2),
            rating_count=r.rating_count or 0, popularity=float(r.popularity or 0.0),
            description=r.description, attributes=dict(r.attributes or {}),
        )
    return out


def read_history(engine: Engine, user_id: str, limit: int) -> list[tuple[str, float | None]]:
    """The user's interactions, newest first (ties: by item id): ``[(item_id, rating)]``."""
    stmt = (select(Interaction.item_id, Interaction.rating)
            .where(Interaction.user_id == user_id)
            .order_by(Interaction.ts.desc(), Interaction.item_id).limit(limit))
    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(stmt)]
