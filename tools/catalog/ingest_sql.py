"""The import's SQL that depends on the database: PostgreSQL's COPY, temporary tables and
dropping / rebuilding keys around a bulk load; SQLite's index drop; the shared upsert and
delete statements. :mod:`tools.catalog.ingest_write` decides which path a write takes.

Everything runs on the import's connection, inside its one transaction, so a failure
restores what was dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from tools.catalog.ingest_rows import InteractionRow

WRITE_CHUNK = 50_000
_PG_TMP = "_ingest_interactions"


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              bar: Any = None) -> None:
    """PostgreSQL: COPY rows into ``table`` on this transaction's connection."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        write = cp.write_row
        for n, row in enumerate(rows, 1):
            write(row)
            if bar is not None and n % WRITE_CHUNK == 0:
                bar.update(WRITE_CHUNK)


def delete_for_items(conn: Connection, table: str, item_ids: list[str]) -> None:
    if not item_ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DELETE FROM {table} WHERE item_id = ANY(:ids)"), {"ids": item_ids})
    else:
        conn.exec_driver_sql(
            f"DELETE FROM {table} WHERE item_id = ?", [(i,) for i in item_ids]
        )


def upsert_action(columns: set[str]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in ("rating", "ts") if c in columns)
    return f"DO UPDATE SET {sets}" if sets else "DO NOTHING"


@dataclass
class Rebuild:
    """DDL that restores what :func:`pg_drop_keys` dropped."""

    primary: list[str]
    others: list[str]  # indexes first, then foreign keys


def pg_rows_at_most(conn: Connection, table: str, cap: int) -> bool:
    n = conn.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {cap + 1}) AS s"
    ).scalar_one()
    return int(n) <= cap


def pg_drop_keys(conn: Connection, table: str) -> Rebuild:
    """Drop ``table``'s primary key, foreign keys and indexes; return the DDL to rebuild them."""
    constraints = conn.exec_driver_sql(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid = '{table}'::regclass AND contype IN ('p', 'f') ORDER BY conname"
    ).all()
    indexes = conn.exec_driver_sql(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        f"WHERE indrelid = '{table}'::regclass AND indexrelid NOT IN "
        f"(SELECT conindid FROM pg_constraint WHERE conrelid = '{table}'::regclass)"
    ).all()
    rebuild = Rebuild(primary=[], others=[ddl for _name, ddl in indexes])
    for name, kind, definition in sorted(constraints, key=lambda c: c[1] == "p"):
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        ddl = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        (rebuild.primary if kind == "p" else rebuild.others).append(ddl)
    for name, _ddl in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return rebuild


def pg_upsert_items(conn: Connection, rows: list[dict[str, Any]], updated: list[str]) -> None:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE."""
    columns = ("item_id", "title", "title_norm", "year", "description", "popularity",
               "attributes")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE _ingest_items (item_id text, title text, title_norm text, "
        "year integer, description text, popularity double precision, attributes json) "
        "ON COMMIT DROP"
    )
    copy_rows(
        conn,
        "_ingest_items",
        columns,
        ([r[c] for c in columns[:-1]] + [json.dumps(r["attributes"])] for r in rows),
    )
    names = ", ".join(columns)
    sets = ", ".join(f"{c} = excluded.{c}" for c in updated)
    conn.exec_driver_sql(
        f"INSERT INTO items ({names}, rating_count) SELECT {names}, 0 FROM _ingest_items "
        f"ON CONFLICT (item_id) DO UPDATE SET {sets}"
    )
    conn.exec_driver_sql("DROP TABLE _ingest_items")


def pg_bulk_load(conn: Connection, present: set[str]) -> None:
    absent = [c for c in ("rating", "ts") if c not in present]
    if absent:  # a column the file lacks keeps its stored value
        conn.exec_driver_sql(
            f"UPDATE {_PG_TMP} AS t SET {', '.join(f'{c} = i.{c}' for c in absent)} "
            "FROM interactions AS i WHERE i.user_id = t.user_id AND i.item_id = t.item_id"
        )
    rebuild = pg_drop_keys(conn, "interactions")
    # upsert = delete the pairs the file brings, then insert the file's rows
    conn.exec_driver_sql(
        f"DELETE FROM interactions AS i USING {_PG_TMP} AS t "
        "WHERE i.user_id = t.user_id AND i.item_id = t.item_id"
    )
    columns = "user_id, item_id, rating, ts"
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(
                f"INSERT INTO interactions ({columns}) SELECT {columns} FROM {_PG_TMP}"
            )
            for ddl in rebuild.primary:
                conn.exec_driver_sql(ddl)
    except IntegrityError:
        # the file repeats a (user, item) pair: keep its last row
        conn.exec_driver_sql(
            f"INSERT INTO interactions ({columns}) SELECT DISTINCT ON (user_id, item_id) "
            f"{columns} FROM {_PG_TMP} ORDER BY user_id, item_id, seq DESC"
        )
        for ddl in rebuild.primary:
            conn.exec_driver_sql(ddl)
    for ddl in rebuild.others:
        conn.exec_driver_sql(ddl)


def pg_upsert_interactions(
    conn: Connection, rows: list[InteractionRow], present: set[str], bar: Any, bulk_min: int
) -> None:
    """COPY into a temporary table, then upsert from it: row by row, or (at least
    ``bulk_min`` rows and at least half the table) with the keys dropped and rebuilt."""
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {_PG_TMP} (seq bigint, user_id text, item_id text, "
        "rating double precision, ts bigint) ON COMMIT DROP"
    )
    copy_rows(
        conn,
        _PG_TMP,
        ("seq", "user_id", "item_id", "rating", "ts"),
        ((n, *row) for n, row in enumerate(rows)),
        bar,
    )
    if len(rows) >= bulk_min and pg_rows_at_most(conn, "interactions", 2 * len(rows)):
        pg_bulk_load(conn, present)
    else:
        # a pair repeated in the file: the last row wins (ON CONFLICT cannot see it twice)
        conn.exec_driver_sql(
            "INSERT INTO interactions (user_id, item_id, rating, ts) "
            "SELECT DISTINCT ON (user_id, item_id) user_id, item_id, rating, ts "
            f"FROM {_PG_TMP} ORDER BY user_id, item_id, seq DESC "
            f"ON CONFLICT (user_id, item_id) {upsert_action(present)}"
        )
    conn.exec_driver_sql(f"DROP TABLE {_PG_TMP}")


def sqlite_drop_indexes(conn: Connection, table: str) -> list[str]:
    """SQLite bulk path: drop ``table``'s secondary indexes (not the primary key's) inside
    the import's transaction; returns the DDL that builds them again. Building an index once
    over the loaded table is cheaper than keeping it up to date row by row (on 1M
    interactions into an empty table, ~25 % of the write); a failure rolls the drop back."""
    raw = conn.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN")  # DDL alone would not open pysqlite's transaction
    found = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name", (table,)
    ).all()
    for name, _ddl in found:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [ddl for _name, ddl in found]
