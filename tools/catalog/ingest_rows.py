"""The import's rows: the design §6 items and interactions files read into one checked
:class:`Batch` (what the import will write), with a progress bar on request.

Items: ``item_id,title`` and optionally ``description,year,categories,tags,popularity``;
any other column becomes an attribute. Interactions: ``user_id,item_id[,rating][,timestamp]``,
each pointing at an item known to the items file or the database.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, select
from tqdm import tqdm

from tools.catalog.ingest_fields import (
    CATEGORY_LEN,
    TAG_LEN,
    TS_MAX,
    TS_MIN,
    CsvFile,
    IngestError,
    in_range,
    item_title,
    need_id,
    parse_number,
    parse_timestamp,
    parse_year,
    split_names,
    tag_name,
)
from tools.catalog.models import ID_LEN, Item

Progress = bool | Literal["force"]

ITEM_COLUMNS = ("item_id", "title", "description", "year", "categories", "tags", "popularity")
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
POPULARITY_SOURCE = "popularity_source"
_PROGRESS_EVERY = 20_000

InteractionRow = tuple[str, str, float | None, int | None]


@dataclass(slots=True)
class ItemRow:
    item_id: str
    title: str
    year: int | None = None
    description: str | None = None
    popularity: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    """Everything one import will write, already checked."""

    items: list[ItemRow] = field(default_factory=list)
    # optional item columns the file has: only those are overwritten on existing items
    item_columns: set[str] = field(default_factory=set)
    interactions: list[InteractionRow] = field(default_factory=list)
    # of rating / ts, which the interactions file has: an absent one keeps the stored value
    interaction_columns: set[str] = field(default_factory=set)
    rows: int = 0


def progress_bar(progress: Progress, desc: str, total: int | None = None,
                 unit: str = "rows") -> Any:
    """A tqdm bar on stderr: shown when ``progress`` is True and stderr is a terminal, always
    when it is ``"force"``."""
    disable: bool | None = None if progress is True else progress != "force"
    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, disable=disable, file=sys.stderr,
        leave=False, mininterval=0.5,
    )


def set_popularity(item: ItemRow, value: str, path: Path, line: int) -> None:
    """The items file's popularity value (empty: none; negative: an error)."""
    item.popularity = parse_number(value, "popularity", path, line)
    if item.popularity is not None:
        if item.popularity < 0:
            raise IngestError(path, line, "popularity must not be negative")
        item.attributes[POPULARITY_SOURCE] = "file"


def read_items_csv(path: Path, batch: Batch, progress: Progress) -> dict[str, int]:
    """Items file -> batch.items; returns item_id -> line for the interaction check."""
    seen: dict[str, int] = {}
    with CsvFile(path, ("item_id", "title"), None) as f, progress_bar(progress, path.name) as bar:
        idx = f.index
        extra = [(i, name) for i, (name, key) in enumerate(zip(f.header, f.keys, strict=True))
                 if key not in ITEM_COLUMNS]
        batch.item_columns |= {k for k in f.keys if k in ITEM_COLUMNS}
        i_desc, i_year = idx.get("description"), idx.get("year")
        i_cat, i_tags, i_pop = idx.get("categories"), idx.get("tags"), idx.get("popularity")
        for line, row in f.rows():
            item_id = need_id(row[idx["item_id"]], "item_id", path, line)
            if item_id in seen:
                raise IngestError(
                    path, line, f"item_id {item_id!r} appears twice (first on line {seen[item_id]})"
                )
            item = ItemRow(item_id=item_id, title=item_title(row[idx["title"]], path, line))
            if i_desc is not None:
                item.description = row[i_desc].strip() or None
            if i_year is not None:
                item.year = parse_year(row[i_year], path, line)
            if i_cat is not None:
                item.categories = split_names(row[i_cat], CATEGORY_LEN, "category", path, line)
            if i_tags is not None:
                names = split_names(row[i_tags], TAG_LEN, "tag", path, line)
                item.tags = {t: 1 for t in dict.fromkeys(tag_name(n) for n in names)}
            if i_pop is not None:
                set_popularity(item, row[i_pop], path, line)
            for i, name in extra:
                if row[i].strip():
                    item.attributes[name] = row[i].strip()
            seen[item_id] = line
            batch.items.append(item)
            batch.rows += 1
            if len(seen) % _PROGRESS_EVERY == 0:
                bar.update(_PROGRESS_EVERY)
    return seen


def read_interactions(
    path: Path,
    batch: Batch,
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
    with CsvFile(path, (c_user, c_item), allowed) as f, progress_bar(progress, path.name) as bar:
        iu, ii = f.index[c_user], f.index[c_item]
        ir, its = f.index.get(c_rating), f.index.get(c_ts)
        # the row loop is the import's hot path: kept inline, without per-row helper calls
        batch.interaction_columns |= {
            column for column, i in (("rating", ir), ("ts", its)) if i is not None}
        n = 0
        for line, row in f.rows():
            user = row[iu].strip()
            if not user or len(user) > ID_LEN:
                need_id(user, c_user, path, line)
            user = users.setdefault(user, user)
            raw_item = row[ii].strip()
            item = known_items.get(raw_item)
            if item is None:
                need_id(raw_item, c_item, path, line)
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
                    rating = parse_number(row[ir], "rating", path, line)
                if rating is not None and not math.isfinite(rating):
                    raise IngestError(path, line, f"rating {row[ir]!r} is not a finite number")
            ts: int | None = None
            if its is not None and row[its]:
                try:
                    ts = int(row[its])
                except ValueError:
                    ts = parse_timestamp(row[its], path, line)
                else:
                    if not TS_MIN <= ts <= TS_MAX:
                        in_range(ts, row[its], path, line)
            append((user, item, rating, ts))
            n += 1
            if n % _PROGRESS_EVERY == 0:
                bar.update(_PROGRESS_EVERY)
    batch.rows += n


def db_item_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(Item.item_id)).scalars())
