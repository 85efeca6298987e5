"""Interaction data for the CF models: the raw log, its fingerprint, and the confidence matrix.

:class:`InteractionLog` is the log as columns (one row per user x item interaction, ids coded
against sorted unique id arrays); :meth:`InteractionLog.to_data` turns it into the
:class:`~tools.recommenders.base.InteractionData` the models fit on.

Rating -> confidence (see :func:`rating_confidence`): an interaction without a rating (an
implicit log: clicks, plays, purchases) has confidence 1; an explicit rating ``r`` has
confidence ``1 + r / r_max`` where ``r_max`` is the largest rating in the log, so every
interaction counts as a positive signal and a 5-star rating counts twice as much as an
unrated view and about 1.5 times a 2-star one. ``min_rating`` drops rated interactions below
it (unrated ones are kept). Everything is vectorised with numpy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Connection, Engine

from tools.catalog.models import Interaction
from tools.recommenders.base import InteractionData

NO_TS = np.iinfo(np.int64).min  # "no timestamp" in InteractionLog.ts
_CHUNK = 200_000  # rows per streamed chunk


@dataclass(frozen=True)
class InteractionLog:
    """One row per interaction. ``users``/``items`` index ``user_ids``/``item_ids``
    (sorted, unique); ``ratings`` is NaN where absent; ``ts`` is unix seconds or
    :data:`NO_TS`."""

    user_ids: np.ndarray  # str, sorted unique
    item_ids: np.ndarray  # str, sorted unique
    users: np.ndarray  # int32, per row
    items: np.ndarray  # int32, per row
    ratings: np.ndarray  # float32, per row (NaN = no rating)
    ts: np.ndarray  # int64, per row (NO_TS = no timestamp)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @classmethod
    def from_arrays(
        cls,
        user_id: Sequence[Any] | np.ndarray,
        item_id: Sequence[Any] | np.ndarray,
        rating: Sequence[float | None] | np.ndarray | None = None,
        ts: Sequence[int | None] | np.ndarray | None = None,
    ) -> InteractionLog:
        """Build from parallel columns (ids are converted to ``str``). A repeated
        (user, item) pair keeps its last row."""
        users_raw = np.asarray(user_id).astype(str)
        items_raw = np.asarray(item_id).astype(str)
        n = users_raw.shape[0]
        if items_raw.shape[0] != n:
            raise ValueError("user_id and item_id must have the same length")
        ratings = _float_column(rating, n, "rating")
        stamps = _ts_column(ts, n)
        user_ids, user_codes = np.unique(users_raw, return_inverse=True)
        item_ids, item_codes = np.unique(items_raw, return_inverse=True)
        users: np.ndarray = user_codes.astype(np.int32).ravel()
        items: np.ndarray = item_codes.astype(np.int32).ravel()
        if n:
            # de-duplicate (user, item), keeping the last occurrence
            key = users.astype(np.int64) * max(len(item_ids), 1) + items
            _, last_rev = np.unique(key[::-1], return_index=True)
            keep = np.sort(n - 1 - last_rev)
            if keep.shape[0] != n:
                users, items = users[keep], items[keep]
                ratings, stamps = ratings[keep], stamps[keep]
        return cls(user_ids, item_ids, users, items, ratings, stamps)

    def fingerprint(self) -> str:
        """A hash of the log's content, independent of row order (sha256 hex)."""
        order = np.lexsort((self.items, self.users))
        h = hashlib.sha256()
        h.update("\x1f".join(self.user_ids.tolist()).encode())
        h.update(b"\x1e")
        h.update("\x1f".join(self.item_ids.tolist()).encode())
        for column in (self.users, self.items, self.ratings, self.ts):
            h.update(b"\x1e")
            h.update(np.ascontiguousarray(column[order]).tobytes())
        return h.hexdigest()

    def subset(self, rows: np.ndarray) -> InteractionLog:
        """The log restricted to ``rows`` (boolean mask or indices); id arrays are kept."""
        return InteractionLog(
            self.user_ids, self.item_ids, self.users[rows], self.items[rows],
            self.ratings[rows], self.ts[rows],
        )

    def to_data(self, *, min_rating: float | None = None,
                fingerprint: str | None = None) -> InteractionData:
        """The user x item confidence matrix (rows: users with at least one interaction
        left; columns: items with at least one interaction left)."""
        keep = np.ones(len(self), dtype=bool)
        if min_rating is not None:
            keep &= ~(self.ratings < min_rating)  # NaN (unrated) is kept
        users, items = self.users[keep], self.items[keep]
        conf = rating_confidence(self.ratings[keep])
        used_users, rows = np.unique(users, return_inverse=True)
        used_items, cols = np.unique(items, return_inverse=True)
        matrix = sp.csr_matrix(
            (conf, (rows.ravel(), cols.ravel())),
            shape=(len(used_users), len(used_items)), dtype=np.float32,
        )
        matrix.sort_indices()
        if fingerprint is None:
            fingerprint = self.fingerprint()
            if min_rating is not None:
                fingerprint = hashlib.sha256(
                    f"{fingerprint}:min_rating={min_rating}".encode()
                ).hexdigest()
        return InteractionData(
            matrix=matrix,
            user_ids=self.user_ids[used_users],
            item_ids=self.item_ids[used_items],
            fingerprint=fingerprint,
        )


def rating_confidence(ratings: np.ndarray) -> np.ndarray:
    """Confidence per interaction: 1 when unrated, else ``1 + r / r_max`` (>= 1)."""
    ratings = np.asarray(ratings, dtype=np.float32)
    conf = np.ones(ratings.shape, dtype=np.float32)
    rated = ~np.isnan(ratings)
    if rated.any():
        top = float(np.max(ratings[rated]))
        if top > 0:
            conf[rated] = 1.0 + np.clip(ratings[rated], 0.0, None) / top
    return conf


def from_triples(
    triples: Sequence[tuple[Any, Any]] | Sequence[tuple[Any, Any, float | None]],
    *,
    min_rating: float | None = None,
) -> InteractionData:
    """Test/demo builder: ``[(user, item), ...]`` or ``[(user, item, rating), ...]``."""
    if not triples:
        raise ValueError("no interactions")
    users = [t[0] for t in triples]
    items = [t[1] for t in triples]
    ratings = [t[2] if len(t) > 2 else None for t in triples]
    return InteractionLog.from_arrays(users, items, ratings).to_data(min_rating=min_rating)


def load_log(engine: Engine) -> InteractionLog:
    """Read the catalog's ``interactions`` table into columns, streamed in chunks, rows in
    the table's scan order (the seeded tie-break of the evaluation split depends on it).

    The distinct user and item ids are read first and coded (sorted, as
    :meth:`InteractionLog.from_arrays` codes them); the rows then arrive as numbers only.
    On SQLite the database codes them itself (the ids joined against two temporary code
    tables) and hands over each chunk of rows as one text per column, parsed by numpy: no
    Python object per row. Elsewhere each chunk's id columns are coded through the id
    maps. The table's primary key makes every (user, item) pair unique."""
    with engine.connect() as conn:
        user_ids = _distinct(conn, "user_id")
        item_ids = _distinct(conn, "item_id")
        if user_ids.size == 0:
            return InteractionLog.from_arrays([], [], [], [])
        if conn.dialect.name == "sqlite":
            try:
                columns = _sqlite_columns(conn, user_ids, item_ids)
            finally:
                conn.rollback()
                for table in _CODE_TABLES:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")
                conn.commit()
        else:
            columns = _streamed_columns(conn, user_ids, item_ids)
    users, items, ratings, stamps = columns
    return InteractionLog(user_ids, item_ids, users, items, ratings, stamps)


def _distinct(conn: Connection, column: str) -> np.ndarray:
    values = conn.exec_driver_sql(f"SELECT DISTINCT {column} FROM {_TABLE}").scalars()
    return np.unique(np.asarray(list(values), dtype=str))


_Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_CODE_TABLES = ("_codes_user", "_codes_item")
_TABLE = Interaction.__tablename__


def _sqlite_columns(conn: Connection, user_ids: np.ndarray, item_ids: np.ndarray) -> _Columns:
    for table, ids in zip(_CODE_TABLES, (user_ids, item_ids), strict=True):
        conn.exec_driver_sql(f"CREATE TEMP TABLE {table} (id TEXT PRIMARY KEY, code INTEGER) "
                             "WITHOUT ROWID")
        conn.exec_driver_sql(f"INSERT INTO {table} (id, code) VALUES (?, ?)",
                             list(zip(ids.tolist(), range(ids.shape[0]), strict=True)))
    # CROSS JOIN keeps interactions the outer loop: rows come in rowid order
    query = (
        "SELECT count(*), group_concat(u.code), group_concat(i.code), "
        "group_concat(ifnull(x.rating, 'nan')), group_concat(ifnull(x.ts, 'nan')) "
        f"FROM {_TABLE} AS x CROSS JOIN _codes_user AS u CROSS JOIN _codes_item AS i "
        "WHERE x.rowid > ? AND x.rowid <= ? AND u.id = x.user_id AND i.id = x.item_id"
    )
    low, high = conn.exec_driver_sql(f"SELECT min(rowid), max(rowid) FROM {_TABLE}").one()
    parts: list[list[np.ndarray]] = []
    for start in range(int(low) - 1, int(high), _CHUNK):
        n, *texts = conn.exec_driver_sql(query, (start, start + _CHUNK)).one()
        if not n:
            continue
        arrays = [np.fromstring(t, dtype=np.float64, sep=",") for t in texts]
        if any(a.shape[0] != n for a in arrays):
            raise RuntimeError("interactions: a chunk did not parse back to its row count")
        parts.append(arrays)
    users, items, ratings, stamps = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return (users.astype(np.int32), items.astype(np.int32), ratings.astype(np.float32),
            _ts_column(stamps, stamps.shape[0]))


def _streamed_columns(conn: Connection, user_ids: np.ndarray,
                      item_ids: np.ndarray) -> _Columns:
    user_code = {u: k for k, u in enumerate(user_ids.tolist())}
    item_code = {t: k for k, t in enumerate(item_ids.tolist())}
    stmt = f"SELECT user_id, item_id, rating, ts FROM {_TABLE}"
    result = conn.execution_options(stream_results=True, yield_per=_CHUNK).exec_driver_sql(stmt)
    parts: list[tuple[np.ndarray, ...]] = []
    for chunk in result.partitions(_CHUNK):
        u, i, r, t = zip(*chunk, strict=True)
        n = len(u)
        parts.append((
            np.fromiter(map(user_code.__getitem__, u), dtype=np.int32, count=n),
            np.fromiter(map(item_code.__getitem__, i), dtype=np.int32, count=n),
            np.asarray(r, dtype=np.float64).astype(np.float32),
            _ts_column(t, n),
        ))
    users, items, ratings, stamps = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return users, items, ratings, stamps


def load_interactions(engine: Engine, *, min_rating: float | None = None) -> InteractionData:
    """The confidence matrix of the catalog's interactions (with its data fingerprint)."""
    return load_log(engine).to_data(min_rating=min_rating)


def _float_column(values: Any, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan, dtype=np.float32)
    arr = np.asarray(values, dtype=np.float64).astype(np.float32)  # None -> NaN
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one value per interaction")
    return arr


def _ts_column(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, NO_TS, dtype=np.int64)
    arr = np.asarray(values)
    if arr.shape[0] != n:
        raise ValueError("ts must have one value per interaction")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    as_float = arr.astype(np.float64)  # None -> NaN
    out = np.full(n, NO_TS, dtype=np.int64)
    ok = ~np.isnan(as_float)
    out[ok] = as_float[ok].astype(np.int64)
    return out
