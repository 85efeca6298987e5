"""The import's one transaction: items upserted, their categories and tags replaced,
interactions upserted, then ``rating_avg`` / ``rating_count`` / ``popularity`` recomputed in
SQL -- all or nothing -- and fresh planner statistics afterwards.

Big imports take a bulk path (keys and indexes dropped and rebuilt around the load, see
:mod:`tools.catalog.ingest_sql`); :data:`PG_BULK_MIN` is where it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tools.catalog.ingest_rows import (
    POPULARITY_SOURCE,
    Batch,
    InteractionRow,
    Progress,
    progress_bar,
)
from tools.catalog.ingest_sql import (
    WRITE_CHUNK,
    copy_rows,
    delete_for_items,
    pg_drop_keys,
    pg_rows_at_most,
    pg_upsert_interactions,
    pg_upsert_items,
    sqlite_drop_indexes,
    upsert_action,
)
from tools.catalog.models import Category, Item, Tag
from tools.catalog.text import normalize_title

SQLITE_IMPORT_CACHE_KB = 256 * 1024  # an upper bound: pages are only allocated when used
# PostgreSQL bulk path: when the import is at least half the size of the table, dropping the
# interaction indexes and constraints and building them again after the load is ~3x faster
# than maintaining them row by row (pg docs, "Populating a Database"). It all happens inside
# the import's transaction, so a failure restores them untouched. SQLite takes its bulk path
# (secondary indexes only) from the same size.
PG_BULK_MIN = 20_000


def insert_plain(conn: Connection, table: str, columns: Sequence[str],
                 rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        if len(rows) >= PG_BULK_MIN and pg_rows_at_most(conn, table, 2 * len(rows)):
            rebuild = pg_drop_keys(conn, table)
            copy_rows(conn, table, columns, rows)
            for ddl in rebuild.primary + rebuild.others:
                conn.exec_driver_sql(ddl)
        else:
            copy_rows(conn, table, columns, rows)
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.exec_driver_sql(sql, rows[start : start + WRITE_CHUNK])


def upsert_items(conn: Connection, batch: Batch) -> None:
    cols = batch.item_columns
    insert_fn: Callable[..., Any] = (
        pg_dialect.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert
    )
    rows = []
    for it in batch.items:
        row: dict[str, Any] = {
            "item_id": it.item_id,
            "title": it.title,
            "title_norm": normalize_title(it.title),
            "attributes": it.attributes,
            "year": it.year,
            "description": it.description,
            "popularity": it.popularity if it.popularity is not None else 0.0,
        }
        rows.append(row)
    base = insert_fn(Item.__table__)
    updated = ["title", "title_norm", "attributes"] + [
        c for c in ("year", "description", "popularity") if c in cols
    ]
    stmt = base.on_conflict_do_update(
        index_elements=["item_id"], set_={c: getattr(base.excluded, c) for c in updated}
    )
    if conn.dialect.name == "postgresql":
        pg_upsert_items(conn, rows, updated)
        return
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.execute(stmt, rows[start : start + WRITE_CHUNK])


def name_ids(
    conn: Connection, model: type[Category] | type[Tag], names: set[str]
) -> dict[str, int]:
    existing = {name: id_ for name, id_ in conn.execute(select(model.name, model.id))}
    missing = sorted(names - existing.keys())
    if missing:
        conn.execute(insert(model), [{"name": n} for n in missing])
        existing = {name: id_ for name, id_ in conn.execute(select(model.name, model.id))}
    return existing


def replace_links(conn: Connection, batch: Batch) -> tuple[int, int]:
    item_ids = [it.item_id for it in batch.items]
    n_categories = n_tags = 0
    if "categories" in batch.item_columns:
        names = {c for it in batch.items for c in it.categories}
        ids = name_ids(conn, Category, names)
        delete_for_items(conn, "item_categories", item_ids)
        insert_plain(
            conn,
            "item_categories",
            ("item_id", "category_id"),
            [(it.item_id, ids[c]) for it in batch.items for c in it.categories],
        )
        n_categories = len(names)
    if "tags" in batch.item_columns:
        names = {t for it in batch.items for t in it.tags}
        ids = name_ids(conn, Tag, names)
        delete_for_items(conn, "item_tags", item_ids)
        insert_plain(
            conn,
            "item_tags",
            ("item_id", "tag_id", "count"),
            [(it.item_id, ids[t], n) for it in batch.items for t, n in it.tags.items()],
        )
        n_tags = len(names)
    return n_categories, n_tags


def upsert_interactions(
    conn: Connection, rows: list[InteractionRow], present: set[str], progress: Progress
) -> None:
    if not rows:
        return
    with progress_bar(progress, "writing interactions", total=len(rows)) as bar:
        if conn.dialect.name == "postgresql":
            pg_upsert_interactions(conn, rows, present, bar, PG_BULK_MIN)
            return
        sql = (
            "INSERT INTO interactions (user_id, item_id, rating, ts) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (user_id, item_id) {upsert_action(present)}"
        )
        rebuild: list[str] = []
        # mostly new rows (an import at least twice the table): index them once at the end;
        # a re-import updates rows in place and leaves the item index untouched anyway. The
        # largest rowid bounds the row count without scanning the table.
        largest = conn.exec_driver_sql("SELECT max(rowid) FROM interactions").scalar()
        if len(rows) >= PG_BULK_MIN and int(largest or 0) <= len(rows) // 2:
            rebuild = sqlite_drop_indexes(conn, "interactions")
        for start in range(0, len(rows), WRITE_CHUNK):
            chunk = rows[start : start + WRITE_CHUNK]
            conn.exec_driver_sql(sql, chunk)
            bar.update(len(chunk))
        for ddl in rebuild:
            conn.exec_driver_sql(ddl)


def recompute_stats(conn: Connection) -> None:
    """rating_avg / rating_count / popularity from the interactions table, in SQL."""
    if conn.dialect.name == "postgresql":
        given = f"(items.attributes ->> '{POPULARITY_SOURCE}') = 'file'"
    else:
        given = f"json_extract(items.attributes, '$.{POPULARITY_SOURCE}') = 'file'"
    conn.exec_driver_sql(
        "UPDATE items SET rating_count = 0, rating_avg = NULL, "
        f"popularity = CASE WHEN {given} THEN items.popularity ELSE 0 END "
        "WHERE NOT EXISTS (SELECT 1 FROM interactions i WHERE i.item_id = items.item_id)"
    )
    conn.exec_driver_sql(
        "UPDATE items SET rating_count = s.n_rated, rating_avg = s.avg_rating, "
        f"popularity = CASE WHEN {given} THEN items.popularity ELSE s.n END "
        "FROM (SELECT item_id, count(*) AS n, count(rating) AS n_rated, avg(rating) AS avg_rating "
        "FROM interactions GROUP BY item_id) AS s WHERE items.item_id = s.item_id"
    )


def write(engine: Engine, batch: Batch, progress: Progress) -> tuple[int, int]:
    """Write ``batch`` in one transaction; returns the numbers of distinct category and tag
    names it brought (0 without items)."""
    n_categories = n_tags = 0
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # random-order key inserts need more than the default 2 MB page cache
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KB}")
        try:
            if batch.items:
                upsert_items(conn, batch)
                n_categories, n_tags = replace_links(conn, batch)
            upsert_interactions(conn, batch.interactions, batch.interaction_columns, progress)
            recompute_stats(conn)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA cache_size = -2000")
    # fresh planner statistics after a bulk load (outside the import transaction)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE items, interactions, item_categories, item_tags")
        else:
            conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return n_categories, n_tags
