"""Catalog import: the CSV format of design §6 and the MovieLens ``ml-latest-small`` layout.

All or nothing. Every file is read and checked first (ids, numbers, years, timestamps,
encoding, header, interactions pointing at items known to the file or the database); a
problem raises :class:`IngestError` ``FILE:LINE: what is wrong`` before anything is
written. Only then is everything written in ONE transaction, so the database is either
fully updated or exactly as it was.

Re-running updates rather than duplicates: items are upserted; an item's categories and
tags are replaced by the file's (when the file has that column); interactions are upserted
on ``(user_id, item_id)`` (within one file the last row for a pair wins). Afterwards
``rating_avg``, ``rating_count`` and ``popularity`` (= number of interactions, unless the
items file gave a popularity, recorded as ``attributes["popularity_source"] = "file"``)
are recomputed in SQL.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tools.catalog.db import ensure_schema
from tools.catalog.models import ID_LEN, Category, Item, Tag
from tools.catalog.text import normalize_title, split_movielens_title_parts

Progress = bool | Literal["force"]

ITEM_COLUMNS = ("item_id", "title", "description", "year", "categories", "tags", "popularity")
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
TITLE_LEN = 512
CATEGORY_LEN = 128
TAG_LEN = 256
POPULARITY_SOURCE = "popularity_source"
NO_GENRES = "(no genres listed)"
WRITE_CHUNK = 50_000
SQLITE_IMPORT_CACHE_KB = 256 * 1024  # an upper bound: pages are only allocated when used
_PROGRESS_EVERY = 20_000


# control characters other than tab, newline and carriage return (NUL breaks PostgreSQL text)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# the same as bytes: in UTF-8 these bytes never occur inside a multi-byte character
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCAN_BLOCK = 1 << 22
# unix seconds a timestamp may hold: what datetime (and a 64-bit column) can represent
TS_MIN = -62_135_596_800  # 0001-01-01
TS_MAX = 253_402_300_799  # 9999-12-31


class IngestError(ValueError):
    """A bad input file: ``str(err)`` is ``FILE:LINE: what is wrong`` (``FILE: ...`` if no line)."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclass
class IngestReport:
    """What one import wrote (counts are of the imported files, not of the whole DB)."""

    items: int = 0
    categories: int = 0  # distinct category names in the import
    tags: int = 0  # distinct tag names in the import
    interactions: int = 0  # interaction rows read (a repeated user/item pair counts each time)
    rows: int = 0  # all data rows read from all files
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def interactions_per_s(self) -> float:
        return self.interactions / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"imported {self.items} items, {self.categories} categories, {self.tags} tags, "
            f"{self.interactions} interactions in {self.seconds:.2f} s "
            f"({self.rows_per_s:,.0f} rows/s)"
        )


@dataclass(slots=True)
class _ItemRow:
    item_id: str
    title: str
    year: int | None = None
    description: str | None = None
    popularity: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)


InteractionRow = tuple[str, str, float | None, int | None]


@dataclass
class _Batch:
    """Everything one import will write, already checked."""

    items: list[_ItemRow] = field(default_factory=list)
    # optional item columns the file has: only those are overwritten on existing items
    item_columns: set[str] = field(default_factory=set)
    interactions: list[InteractionRow] = field(default_factory=list)
    # of rating / ts, which the interactions file has: an absent one keeps the stored value
    interaction_columns: set[str] = field(default_factory=set)
    rows: int = 0


# --------------------------------------------------------------------------- reading


def _bar(progress: Progress, desc: str, total: int | None = None, unit: str = "rows") -> Any:
    from tqdm import tqdm

    disable: bool | None = None if progress is True else progress != "force"
    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, disable=disable, file=sys.stderr,
        leave=False, mininterval=0.5,
    )


def _decoded_lines(f: IO[bytes], path: Path) -> Iterator[str]:
    for n, raw in enumerate(f, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError(
                path,
                n,
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the file as UTF-8",
            ) from None
        if n == 1 and line.startswith("\ufeff"):
            line = line[1:]
        yield line


def _plain_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8 without control characters: one pass over the
    bytes in C (a regex search and an incremental decode per 4 MB block)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        while block := f.read(_SCAN_BLOCK):
            if _CONTROL_BYTES.search(block) is not None:
                return False
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class _CsvFile:
    """A header-checked CSV file: iterate ``(line, fields)``; blank lines are skipped.

    A file that is plain UTF-8 without control characters (checked up front in one pass) is
    read as text by the csv module directly; any other is read line by line in binary with
    per-line decoding and per-cell checks, which name the FILE:LINE (and column) of the
    first problem. Lines end at ``\n`` only, either way."""

    def __init__(
        self, path: Path, required: Sequence[str], allowed: Sequence[str] | None
    ) -> None:
        self.path = path
        self._f: IO[bytes] | IO[str]
        try:
            self._check_cells = not _plain_utf8(path)
            if self._check_cells:
                self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
                self._reader = csv.reader(_decoded_lines(self._f, path))
            else:
                self._f = open(path, encoding="utf-8-sig", newline="\n")  # noqa: SIM115
                self._reader = csv.reader(self._f)
        except FileNotFoundError:
            raise IngestError(path, None, "no such file") from None
        except OSError as exc:
            raise IngestError(path, None, f"cannot read: {exc.strerror}") from None
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            self.close()
            raise IngestError(path, 1, f"malformed CSV header: {exc}") from None
        except IngestError:
            self.close()
            raise
        if not header or not any(h.strip() for h in header):
            self.close()
            raise IngestError(path, 1, f"empty header; expected columns {','.join(required)}")
        self.header = [h.strip() for h in header]
        keys = [h.lower() for h in self.header]
        problem = None
        missing = [c for c in required if c not in keys]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        unknown = [h for h, k in zip(self.header, keys, strict=True) if allowed is not None
                   and k not in allowed]
        if missing:
            problem = f"header lacks required column(s) {', '.join(missing)}"
        elif dupes:
            problem = f"header repeats column(s) {', '.join(dupes)}"
        elif any(not k for k in keys):
            problem = "header has an empty column name"
        elif unknown:
            problem = (
                f"unexpected column(s) {', '.join(unknown)}; allowed: {', '.join(allowed or ())}"
            )
        if problem:
            self.close()
            raise IngestError(
                path, 1, f"{problem} (found: {','.join(self.header)})"
            )
        self.keys = keys
        self.index = {k: i for i, k in enumerate(keys)}

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        width = len(self.header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise IngestError(self.path, reader.line_num, f"malformed CSV: {exc}") from None
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raise IngestError(
                    self.path,
                    reader.line_num,
                    f"expected {width} fields like the header, found {len(row)}",
                )
            if self._check_cells:
                for k, cell in enumerate(row):
                    bad = _CONTROL.search(cell)
                    if bad is not None:
                        raise IngestError(
                            self.path, reader.line_num,
                            f"control character U+{ord(bad.group()):04X} in column "
                            f"{self.header[k]!r} (text must be printable)")
            yield reader.line_num, row


def _need_id(value: str, what: str, path: Path, line: int) -> str:
    value = value.strip()
    if not value:
        raise IngestError(path, line, f"missing {what}")
    if len(value) > ID_LEN:
        raise IngestError(path, line, f"{what} is longer than {ID_LEN} characters")
    return value


def _parse_year(value: str, path: Path, line: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 4):
        raise IngestError(path, line, f"year {value!r} is not a year (expected e.g. 1999)")
    return int(value)


def _parse_number(value: str, what: str, path: Path, line: int) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise IngestError(path, line, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise IngestError(path, line, f"{what} {value!r} is not a finite number")
    return number


def _in_range(seconds: int, value: str, path: Path, line: int) -> int:
    if not TS_MIN <= seconds <= TS_MAX:
        raise IngestError(path, line, f"timestamp {value[:40]!r} is out of range "
                                      "(unix seconds between the years 1 and 9999)")
    return seconds


def _parse_timestamp(value: str, path: Path, line: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    seconds: int | None = None
    try:
        seconds = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            seconds = int(number) if abs(number) < 1e18 else TS_MAX + 1
    if seconds is not None:
        return _in_range(seconds, value, path, line)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise IngestError(
            path, line, f"timestamp {value!r} is neither unix seconds nor ISO 8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _split_names(value: str, limit: int, what: str, path: Path, line: int) -> list[str]:
    names: list[str] = []
    for part in value.split("|"):
        name = " ".join(part.split())
        if not name or name in names:
            continue
        if len(name) > limit:
            raise IngestError(path, line, f"{what} {name[:40]!r}... is longer than {limit}")
        names.append(name)
    return names


def _tag_name(value: str) -> str:
    return " ".join(value.split()).casefold()


def _item_title(value: str, path: Path, line: int) -> str:
    """An item's title, whitespace collapsed; present and at most ``TITLE_LEN`` long."""
    title = " ".join(value.split())
    if not title:
        raise IngestError(path, line, "missing title")
    if len(title) > TITLE_LEN:
        raise IngestError(path, line, f"title is longer than {TITLE_LEN} characters")
    return title


def _set_popularity(item: _ItemRow, value: str, path: Path, line: int) -> None:
    """The items file's popularity value (empty: none; negative: an error)."""
    item.popularity = _parse_number(value, "popularity", path, line)
    if item.popularity is not None:
        if item.popularity < 0:
            raise IngestError(path, line, "popularity must not be negative")
        item.attributes[POPULARITY_SOURCE] = "file"


def _read_items_csv(path: Path, batch: _Batch, progress: Progress) -> dict[str, int]:
    """Items file -> batch.items; returns item_id -> line for the interaction check."""
    seen: dict[str, int] = {}
    with _CsvFile(path, ("item_id", "title"), None) as f, _bar(progress, path.name) as bar:
        idx = f.index
        extra = [(i, name) for i, (name, key) in enumerate(zip(f.header, f.keys, strict=True))
                 if key not in ITEM_COLUMNS]
        batch.item_columns |= {k for k in f.keys if k in ITEM_COLUMNS}
        i_desc, i_year = idx.get("description"), idx.get("year")
        i_cat, i_tags, i_pop = idx.get("categories"), idx.get("tags"), idx.get("popularity")
        for line, row in f.rows():
            item_id = _need_id(row[idx["item_id"]], "item_id", path, line)
            if item_id in seen:
                raise IngestError(
                    path, line, f"item_id {item_id!r} appears twice (first on line {seen[item_id]})"
                )
            item = _ItemRow(item_id=item_id, title=_item_title(row[idx["title"]], path, line))
            if i_desc is not None:
                item.description = row[i_desc].strip() or None
            if i_year is not None:
                item.year = _parse_year(row[i_year], path, line)
            if i_cat is not None:
                item.categories = _split_names(row[i_cat], CATEGORY_LEN, "category", path, line)
            if i_tags is not None:
                names = _split_names(row[i_tags], TAG_LEN, "tag", path, line)
                item.tags = {t: 1 for t in dict.fromkeys(_tag_name(n) for n in names)}
            if i_pop is not None:
                _set_popularity(item, row[i_pop], path, line)
            for i, name in extra:
                if row[i].strip():
                    item.attributes[name] = row[i].strip()
            seen[item_id] = line
            batch.items.append(item)
            batch.rows += 1
            if len(seen) % _PROGRESS_EVERY == 0:
                bar.update(_PROGRESS_EVERY)
    return seen


def _read_interactions(
    path: Path,
    batch: _Batch,
    known_items: dict[str, str],
    columns: tuple[str, str, str, str],
    allowed: Sequence[str],
    progress: Progress,
) -> None:
    """Interactions file -> batch.interactions (ids interned against ``known_items``)."""
    c_user, c_item, c_rating, c_ts = columns
    users: dict[str, str] = {}
    out = batch.interactions
    append = out.append
    with _CsvFile(path, (c_user, c_item), allowed) as f, _bar(progress, path.name) as bar:
        iu, ii = f.index[c_user], f.index[c_item]
        ir, its = f.index.get(c_rating), f.index.get(c_ts)
        # the row loop is the import's hot path: kept inline, without per-row helper calls
        batch.interaction_columns |= {
            column for column, i in (("rating", ir), ("ts", its)) if i is not None}
        n = 0
        for line, row in f.rows():
            user = row[iu].strip()
            if not user or len(user) > ID_LEN:
                _need_id(user, c_user, path, line)
            user = users.setdefault(user, user)
            raw_item = row[ii].strip()
            item = known_items.get(raw_item)
            if item is None:
                _need_id(raw_item, c_item, path, line)
                raise IngestError(
                    path,
                    line,
                    f"{c_item} {raw_item!r} is not a known item (not in the items file "
                    "nor in the database)",
                )
            rating: float | None = None
            if ir is not None and row[ir]:
                try:
                    rating = float(row[ir])
                except ValueError:
                    rating = _parse_number(row[ir], "rating", path, line)
                if rating is not None and not math.isfinite(rating):
                    raise IngestError(path, line, f"rating {row[ir]!r} is not a finite number")
            ts: int | None = None
            if its is not None and row[its]:
                try:
                    ts = int(row[its])
                except ValueError:
                    ts = _parse_timestamp(row[its], path, line)
                else:
                    if not TS_MIN <= ts <= TS_MAX:
                        _in_range(ts, row[its], path, line)
            append((user, item, rating, ts))
            n += 1
            if n % _PROGRESS_EVERY == 0:
                bar.update(_PROGRESS_EVERY)
    batch.rows += n


def _db_item_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(Item.item_id)).scalars())


# --------------------------------------------------------------------------- writing


def _copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
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


def _insert_plain(conn: Connection, table: str, columns: Sequence[str],
                  rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        if len(rows) >= PG_BULK_MIN and _pg_rows_at_most(conn, table, 2 * len(rows)):
            rebuild = _pg_drop_keys(conn, table)
            _copy_rows(conn, table, columns, rows)
            for ddl in rebuild.primary + rebuild.others:
                conn.exec_driver_sql(ddl)
        else:
            _copy_rows(conn, table, columns, rows)
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.exec_driver_sql(sql, rows[start : start + WRITE_CHUNK])


def _delete_for_items(conn: Connection, table: str, item_ids: list[str]) -> None:
    if not item_ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DELETE FROM {table} WHERE item_id = ANY(:ids)"), {"ids": item_ids})
    else:
        conn.exec_driver_sql(
            f"DELETE FROM {table} WHERE item_id = ?", [(i,) for i in item_ids]
        )


def _upsert_items(conn: Connection, batch: _Batch) -> None:
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
        _pg_upsert_items(conn, rows, updated)
        return
    for start in range(0, len(rows), WRITE_CHUNK):
        conn.execute(stmt, rows[start : start + WRITE_CHUNK])


def _pg_upsert_items(conn: Connection, rows: list[dict[str, Any]], updated: list[str]) -> None:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE."""
    import json

    columns = ("item_id", "title", "title_norm", "year", "description", "popularity",
               "attributes")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE _ingest_items (item_id text, title text, title_norm text, "
        "year integer, description text, popularity double precision, attributes json) "
        "ON COMMIT DROP"
    )
    _copy_rows(
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


def _name_ids(
    conn: Connection, model: type[Category] | type[Tag], names: set[str]
) -> dict[str, int]:
    existing = {name: id_ for name, id_ in conn.execute(select(model.name, model.id))}
    missing = sorted(names - existing.keys())
    if missing:
        conn.execute(insert(model), [{"name": n} for n in missing])
        existing = {name: id_ for name, id_ in conn.execute(select(model.name, model.id))}
    return existing


def _replace_links(conn: Connection, batch: _Batch) -> tuple[int, int]:
    item_ids = [it.item_id for it in batch.items]
    n_categories = n_tags = 0
    if "categories" in batch.item_columns:
        names = {c for it in batch.items for c in it.categories}
        ids = _name_ids(conn, Category, names)
        _delete_for_items(conn, "item_categories", item_ids)
        _insert_plain(
            conn,
            "item_categories",
            ("item_id", "category_id"),
            [(it.item_id, ids[c]) for it in batch.items for c in it.categories],
        )
        n_categories = len(names)
    if "tags" in batch.item_columns:
        names = {t for it in batch.items for t in it.tags}
        ids = _name_ids(conn, Tag, names)
        _delete_for_items(conn, "item_tags", item_ids)
        _insert_plain(
            conn,
            "item_tags",
            ("item_id", "tag_id", "count"),
            [(it.item_id, ids[t], n) for it in batch.items for t, n in it.tags.items()],
        )
        n_tags = len(names)
    return n_categories, n_tags




def _upsert_action(columns: set[str]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in ("rating", "ts") if c in columns)
    return f"DO UPDATE SET {sets}" if sets else "DO NOTHING"

# PostgreSQL bulk path: when the import is at least half the size of the table, dropping the
# interaction indexes and constraints and building them again after the load is ~3x faster
# than maintaining them row by row (pg docs, "Populating a Database"). It all happens inside
# the import's transaction, so a failure restores them untouched.
PG_BULK_MIN = 20_000
_PG_TMP = "_ingest_interactions"


@dataclass
class _Rebuild:
    """DDL that restores what :func:`_pg_drop_keys` dropped."""

    primary: list[str]
    others: list[str]  # indexes first, then foreign keys


def _pg_rows_at_most(conn: Connection, table: str, cap: int) -> bool:
    n = conn.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {cap + 1}) AS s"
    ).scalar_one()
    return int(n) <= cap


def _pg_drop_keys(conn: Connection, table: str) -> _Rebuild:
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
    rebuild = _Rebuild(primary=[], others=[ddl for _name, ddl in indexes])
    for name, kind, definition in sorted(constraints, key=lambda c: c[1] == "p"):
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        ddl = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        (rebuild.primary if kind == "p" else rebuild.others).append(ddl)
    for name, _ddl in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return rebuild


def _pg_bulk_load(conn: Connection, present: set[str]) -> None:
    from sqlalchemy.exc import IntegrityError

    absent = [c for c in ("rating", "ts") if c not in present]
    if absent:  # a column the file lacks keeps its stored value
        conn.exec_driver_sql(
            f"UPDATE {_PG_TMP} AS t SET {', '.join(f'{c} = i.{c}' for c in absent)} "
            "FROM interactions AS i WHERE i.user_id = t.user_id AND i.item_id = t.item_id"
        )
    rebuild = _pg_drop_keys(conn, "interactions")
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


def _pg_upsert_interactions(
    conn: Connection, rows: list[InteractionRow], present: set[str], bar: Any
) -> None:
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {_PG_TMP} (seq bigint, user_id text, item_id text, "
        "rating double precision, ts bigint) ON COMMIT DROP"
    )
    _copy_rows(
        conn,
        _PG_TMP,
        ("seq", "user_id", "item_id", "rating", "ts"),
        ((n, *row) for n, row in enumerate(rows)),
        bar,
    )
    if len(rows) >= PG_BULK_MIN and _pg_rows_at_most(conn, "interactions", 2 * len(rows)):
        _pg_bulk_load(conn, present)
    else:
        # a pair repeated in the file: the last row wins (ON CONFLICT cannot see it twice)
        conn.exec_driver_sql(
            "INSERT INTO interactions (user_id, item_id, rating, ts) "
            "SELECT DISTINCT ON (user_id, item_id) user_id, item_id, rating, ts "
            f"FROM {_PG_TMP} ORDER BY user_id, item_id, seq DESC "
            f"ON CONFLICT (user_id, item_id) {_upsert_action(present)}"
        )
    conn.exec_driver_sql(f"DROP TABLE {_PG_TMP}")


def _upsert_interactions(
    conn: Connection, rows: list[InteractionRow], present: set[str], progress: Progress
) -> None:
    if not rows:
        return
    with _bar(progress, "writing interactions", total=len(rows)) as bar:
        if conn.dialect.name == "postgresql":
            _pg_upsert_interactions(conn, rows, present, bar)
            return
        sql = (
            "INSERT INTO interactions (user_id, item_id, rating, ts) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (user_id, item_id) {_upsert_action(present)}"
        )
        rebuild: list[str] = []
        # mostly new rows (an import at least twice the table): index them once at the end;
        # a re-import updates rows in place and leaves the item index untouched anyway. The
        # largest rowid bounds the row count without scanning the table.
        largest = conn.exec_driver_sql("SELECT max(rowid) FROM interactions").scalar()
        if len(rows) >= PG_BULK_MIN and int(largest or 0) <= len(rows) // 2:
            rebuild = _sqlite_drop_indexes(conn, "interactions")
        for start in range(0, len(rows), WRITE_CHUNK):
            chunk = rows[start : start + WRITE_CHUNK]
            conn.exec_driver_sql(sql, chunk)
            bar.update(len(chunk))
        for ddl in rebuild:
            conn.exec_driver_sql(ddl)


def _sqlite_drop_indexes(conn: Connection, table: str) -> list[str]:
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


def _recompute_stats(conn: Connection) -> None:
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


def _write(engine: Engine, batch: _Batch, report: IngestReport, progress: Progress) -> None:
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # random-order key inserts need more than the default 2 MB page cache
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KB}")
        try:
            if batch.items:
                _upsert_items(conn, batch)
                report.categories, report.tags = _replace_links(conn, batch)
            _upsert_interactions(conn, batch.interactions, batch.interaction_columns, progress)
            _recompute_stats(conn)
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
    report.items = len(batch.items)
    report.interactions = len(batch.interactions)
    report.rows = batch.rows


# --------------------------------------------------------------------------- entry points


def ingest_csv(
    engine: Engine,
    items: Path | None,
    interactions: Path | None,
    *,
    progress: Progress = False,
) -> IngestReport:
    """Import an items file and/or an interactions file (design §6 CSV format).

    ``progress=True`` shows a progress bar when stderr is a terminal, ``"force"`` always.
    """
    if items is None and interactions is None:
        raise ValueError("give an items file, an interactions file, or both")
    ensure_schema(engine)
    started = time.perf_counter()
    batch = _Batch()
    known: dict[str, str] = {}
    if items is not None:
        items = Path(items)
        for item_id in _read_items_csv(items, batch, progress):
            known[item_id] = item_id
    if interactions is not None:
        interactions = Path(interactions)
        with engine.connect() as conn:
            for item_id in _db_item_ids(conn):
                known.setdefault(item_id, item_id)
        _read_interactions(
            interactions, batch, known, INTERACTION_COLUMNS, INTERACTION_COLUMNS, progress
        )
    report = IngestReport()
    _write(engine, batch, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _imdb_url(value: str) -> str | None:
    digits = value.removeprefix("tt")
    return f"https://www.imdb.com/title/tt{int(digits):07d}/" if digits.isdigit() else None


def _tmdb_url(value: str) -> str | None:
    return f"https://www.themoviedb.org/movie/{int(value)}" if value.isdigit() else None


# links.csv ids -> the pages they name (kept as ``imdb_url`` / ``tmdb_url`` attributes)
_MOVIELENS_LINKS = {"imdb_id": _imdb_url, "tmdb_id": _tmdb_url}


def _read_movielens(directory: Path, batch: _Batch, progress: Progress) -> dict[str, str]:
    by_id = _read_movielens_movies(directory / "movies.csv", batch)
    links = directory / "links.csv"
    if links.exists():
        _read_movielens_links(links, batch, by_id)
    tags = directory / "tags.csv"
    if tags.exists():
        _read_movielens_tags(tags, batch, by_id)
    return {movie_id: movie_id for movie_id in by_id}


def _read_movielens_movies(movies: Path, batch: _Batch) -> dict[str, _ItemRow]:
    """movies.csv -> batch.items (title, year, genres, alternate titles); movieId -> item."""
    by_id: dict[str, _ItemRow] = {}
    with _CsvFile(movies, ("movieid", "title", "genres"), ("movieid", "title", "genres")) as f:
        i_id, i_title, i_genres = f.index["movieid"], f.index["title"], f.index["genres"]
        for line, row in f.rows():
            movie_id = _need_id(row[i_id], "movieId", movies, line)
            if movie_id in by_id:
                raise IngestError(movies, line, f"movieId {movie_id!r} appears twice")
            title, year, alternates = split_movielens_title_parts(row[i_title])
            if not title:
                raise IngestError(movies, line, "missing title")
            if len(title) > TITLE_LEN:
                raise IngestError(movies, line, f"title is longer than {TITLE_LEN} characters")
            genres = row[i_genres].strip()
            item = _ItemRow(item_id=movie_id, title=title, year=year)
            if genres and genres != NO_GENRES:
                item.categories = _split_names(genres, CATEGORY_LEN, "genre", movies, line)
            if alternates:
                item.attributes["alt_titles"] = alternates
            by_id[movie_id] = item
            batch.rows += 1
    batch.items = list(by_id.values())
    batch.item_columns |= {"year", "categories"}
    return by_id


def _read_movielens_links(links: Path, batch: _Batch, by_id: dict[str, _ItemRow]) -> None:
    """links.csv -> the movies' ``imdb_id``/``tmdb_id`` attributes and the pages they name."""
    cols = ("movieid", "imdbid", "tmdbid")
    with _CsvFile(links, ("movieid",), cols) as f:
        i_id = f.index["movieid"]
        extra = [(f.index[c], c[:-2] + "_id") for c in cols[1:] if c in f.index]
        for line, row in f.rows():
            movie_id = _need_id(row[i_id], "movieId", links, line)
            linked = by_id.get(movie_id)
            if linked is None:
                raise IngestError(links, line, f"movieId {movie_id!r} is not in movies.csv")
            for i, key in extra:
                value = row[i].strip()
                if value:
                    linked.attributes[key] = value
                    url = _MOVIELENS_LINKS[key](value)
                    if url:
                        linked.attributes[key[:-3] + "_url"] = url
            batch.rows += 1


def _read_movielens_tags(tags: Path, batch: _Batch, by_id: dict[str, _ItemRow]) -> None:
    """tags.csv -> the movies' tags, counted (how many users gave each)."""
    batch.item_columns.add("tags")
    tag_cols = ("userid", "movieid", "tag", "timestamp")
    with _CsvFile(tags, ("movieid", "tag"), tag_cols) as f:
        i_id, i_tag = f.index["movieid"], f.index["tag"]
        i_ts = f.index.get("timestamp")
        for line, row in f.rows():
            movie_id = _need_id(row[i_id], "movieId", tags, line)
            tagged = by_id.get(movie_id)
            if tagged is None:
                raise IngestError(tags, line, f"movieId {movie_id!r} is not in movies.csv")
            if i_ts is not None:
                _parse_timestamp(row[i_ts], tags, line)
            name = _tag_name(row[i_tag])
            if len(name) > TAG_LEN:
                raise IngestError(tags, line, f"tag is longer than {TAG_LEN} characters")
            if name:
                tagged.tags[name] = tagged.tags.get(name, 0) + 1
            batch.rows += 1


def ingest_movielens(
    engine: Engine, directory: Path, *, progress: Progress = False
) -> IngestReport:
    """Import a MovieLens ``ml-latest-small`` folder (movies, links, tags, ratings)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IngestError(directory, None, "not a directory (expected an ml-latest-small folder)")
    if not (directory / "movies.csv").is_file():
        raise IngestError(directory, None, "no movies.csv here (expected ml-latest-small layout)")
    ensure_schema(engine)
    started = time.perf_counter()
    batch = _Batch()
    known = _read_movielens(directory, batch, progress)
    ratings = directory / "ratings.csv"
    if ratings.exists():
        with engine.connect() as conn:
            for item_id in _db_item_ids(conn):
                known.setdefault(item_id, item_id)
        cols = ("userid", "movieid", "rating", "timestamp")
        _read_interactions(ratings, batch, known, cols, cols, progress)
    report = IngestReport()
    _write(engine, batch, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def movielens_fingerprint(directory: Path) -> str:
    """SHA-256 over the MovieLens files' names and bytes (what the demo checks)."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("movies.csv", "links.csv", "tags.csv", "ratings.csv"):
        path = Path(directory) / name
        if path.exists():
            digest.update(name.encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):  # type: ignore[misc]
                    digest.update(block)
    return digest.hexdigest()
