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

This module is the entry point; one module per job does the work:
:mod:`~tools.catalog.ingest_fields` (CSV files and cells, FILE:LINE errors),
:mod:`~tools.catalog.ingest_rows` (the design §6 files into a checked batch),
:mod:`~tools.catalog.ingest_movielens` (the MovieLens layout),
:mod:`~tools.catalog.ingest_write` (the one transaction) and
:mod:`~tools.catalog.ingest_sql` (what differs between PostgreSQL and SQLite).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from tools.catalog.db import ensure_schema
from tools.catalog.ingest_fields import (
    CATEGORY_LEN,
    TAG_LEN,
    TITLE_LEN,
    TS_MAX,
    TS_MIN,
    IngestError,
)
from tools.catalog.ingest_movielens import NO_GENRES, read_movielens
from tools.catalog.ingest_rows import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    POPULARITY_SOURCE,
    Batch,
    InteractionRow,
    Progress,
    db_item_ids,
    read_interactions,
    read_items_csv,
)
from tools.catalog.ingest_sql import WRITE_CHUNK
from tools.catalog.ingest_write import PG_BULK_MIN, SQLITE_IMPORT_CACHE_KB, write

__all__ = [
    "CATEGORY_LEN", "INTERACTION_COLUMNS", "ITEM_COLUMNS", "NO_GENRES", "PG_BULK_MIN",
    "POPULARITY_SOURCE", "SOURCE_FILES", "SQLITE_IMPORT_CACHE_KB", "TAG_LEN", "TITLE_LEN",
    "TS_MAX", "TS_MIN", "WRITE_CHUNK", "IngestError", "IngestReport", "InteractionRow",
    "Progress", "ingest_csv", "ingest_movielens", "movielens_fingerprint",
]

# the files of the import code: what a cache of imported data should be keyed on
SOURCE_FILES: tuple[Path, ...] = tuple(
    Path(__file__).with_name(name) for name in (
        "ingest.py", "ingest_fields.py", "ingest_rows.py", "ingest_movielens.py",
        "ingest_write.py", "ingest_sql.py"))


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
    batch = Batch()
    known: dict[str, str] = {}
    if items is not None:
        items = Path(items)
        for item_id in read_items_csv(items, batch, progress):
            known[item_id] = item_id
    if interactions is not None:
        interactions = Path(interactions)
        with engine.connect() as conn:
            for item_id in db_item_ids(conn):
                known.setdefault(item_id, item_id)
        read_interactions(
            interactions, batch, known, INTERACTION_COLUMNS, INTERACTION_COLUMNS, progress
        )
    return _import(engine, batch, progress, started)


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
    batch = Batch()
    known = read_movielens(directory, batch, progress)
    ratings = directory / "ratings.csv"
    if ratings.exists():
        with engine.connect() as conn:
            for item_id in db_item_ids(conn):
                known.setdefault(item_id, item_id)
        cols = ("userid", "movieid", "rating", "timestamp")
        read_interactions(ratings, batch, known, cols, cols, progress)
    return _import(engine, batch, progress, started)


def _import(engine: Engine, batch: Batch, progress: Progress, started: float) -> IngestReport:
    """Write the checked ``batch`` (one transaction) and report what was imported."""
    categories, tags = write(engine, batch, progress)
    report = IngestReport(items=len(batch.items), categories=categories, tags=tags,
                          interactions=len(batch.interactions), rows=batch.rows)
    report.seconds = time.perf_counter() - started
    return report


def movielens_fingerprint(directory: Path) -> str:
    """SHA-256 over the MovieLens files' names and bytes (what the demo checks)."""
    digest = hashlib.sha256()
    for name in ("movies.csv", "links.csv", "tags.csv", "ratings.csv"):
        path = Path(directory) / name
        if path.exists():
            digest.update(name.encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):  # type: ignore[misc]
                    digest.update(block)
    return digest.hexdigest()
