"""The interactions in Spark and back: read from files or from the catalog (SQLAlchemy in
the driver), **prepared** (one row per (user, item), confidences ``1 + r / r_max`` exactly as
:mod:`tools.recommenders.data`, ids coded against their sorted values), an in-driver matrix
shipped to Spark as packed buffers, and the confidence matrix collected to the driver."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tools.recommenders.base import InteractionData

_USER_ALIASES = ("user_id", "userId", "user")
_ITEM_ALIASES = ("item_id", "itemId", "movieId", "item")
_TS_ALIASES = ("timestamp", "ts")
_RAW_SCHEMA_DDL = "user_id string, item_id string, rating double, ts long"
_TRIPLE = np.dtype([("u", "<i4"), ("i", "<i4"), ("c", "<f4")])
_CHUNK_ROWS = 500_000  # 6 MB per shipped chunk


def read_files(spark: Any, paths: Sequence[str | Path]) -> Any:
    """Interactions from Parquet or CSV files (by extension; a folder is read as Parquet),
    normalised to ``user_id string, item_id string, rating double, ts long`` (null when
    absent). CSV needs a header row; ``userId``/``movieId`` (MovieLens) are accepted too;
    a timestamp is unix seconds or ISO 8601."""
    from pyspark.sql import functions as F  # deferred: optional dependency (pyspark)

    names = [str(p) for p in paths]
    if not names:
        raise ValueError("no interaction files given")
    for name in names:
        if not Path(name).exists() and "://" not in name:
            raise FileNotFoundError(f"{name}: no such file")
    kinds = {_file_kind(n) for n in names}
    if len(kinds) != 1:
        raise ValueError("give either Parquet or CSV files, not both")
    if kinds == {"csv"}:
        df = spark.read.option("header", "true").option("inferSchema", "false").csv(names)
    else:
        df = spark.read.parquet(*names)
    columns = set(df.columns)

    def pick(aliases: Sequence[str]) -> str | None:
        return next((a for a in aliases if a in columns), None)

    user, item = pick(_USER_ALIASES), pick(_ITEM_ALIASES)
    if user is None or item is None:
        raise ValueError(f"{names[0]}: needs user_id and item_id columns "
                         f"(has {', '.join(sorted(columns))})")
    rating, ts = pick(("rating",)), pick(_TS_ALIASES)
    ts_col = F.lit(None).cast("long")
    if ts is not None:
        raw = F.col(ts)
        ts_col = F.coalesce(raw.cast("double").cast("long"),
                            F.unix_timestamp(F.to_timestamp(raw.cast("string"))))
    return df.select(
        F.col(user).cast("string").alias("user_id"),
        F.col(item).cast("string").alias("item_id"),
        (F.col(rating).cast("double") if rating else F.lit(None).cast("double")).alias("rating"),
        ts_col.alias("ts"),
    ).where(F.col("user_id").isNotNull() & F.col("item_id").isNotNull())


def _file_kind(name: str) -> str:
    lower = name.lower().rstrip("/")
    if lower.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    return "parquet"


def read_catalog(spark: Any, engine: Any) -> tuple[Any, Any]:
    """The catalog's interactions, read with SQLAlchemy in the driver and handed to Spark,
    plus the in-driver log (its fingerprint is the one a local ``recagent train`` records)."""
    from tools.recommenders.data import (  # deferred: spark executors (they lack sqlalchemy)
        NO_TS,
        load_log,
    )

    log = load_log(engine)
    rows = [
        (str(log.user_ids[u]), str(log.item_ids[i]),
         None if np.isnan(r) else float(r), None if t == NO_TS else int(t))
        for u, i, r, t in zip(log.users.tolist(), log.items.tolist(), log.ratings.tolist(),
                              log.ts.tolist(), strict=True)
    ]
    return spark.createDataFrame(rows, _RAW_SCHEMA_DDL), log


@dataclass
class Prepared:
    frame: Any  # Spark DataFrame (u int, i int, conf float)
    user_ids: np.ndarray  # str, sorted; index u
    item_ids: np.ndarray  # str, sorted; index i


def prepare(spark: Any, raw: Any, *, min_rating: float | None = None) -> Prepared:
    """One row per (user, item), confidences, ids coded against their sorted values."""
    from pyspark.sql import Window  # deferred: optional dependency (pyspark)
    from pyspark.sql import functions as F  # deferred: optional dependency (pyspark)

    latest = Window.partitionBy("user_id", "item_id").orderBy(
        F.col("ts").desc_nulls_last(), F.col("rating").desc_nulls_last())
    df = raw.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1).drop("_n")
    if min_rating is not None:
        df = df.where(F.col("rating").isNull() | (F.col("rating") >= float(min_rating)))
    df = df.cache()
    top = df.agg(F.max("rating")).first()[0]
    if top is not None and top > 0:
        conf = F.when(F.col("rating").isNull(), F.lit(1.0)).otherwise(
            1.0 + F.greatest(F.col("rating"), F.lit(0.0)) / float(top))
    else:
        conf = F.lit(1.0)
    df = df.withColumn("conf", conf.cast("float"))
    user_ids = np.sort(np.asarray([r[0] for r in df.select("user_id").distinct().collect()],
                                  dtype=str))
    item_ids = np.sort(np.asarray([r[0] for r in df.select("item_id").distinct().collect()],
                                  dtype=str))
    users = spark.createDataFrame(list(zip(user_ids.tolist(), range(len(user_ids)),
                                           strict=True)), "user_id string, u int")
    items = spark.createDataFrame(list(zip(item_ids.tolist(), range(len(item_ids)),
                                           strict=True)), "item_id string, i int")
    frame = (df.join(F.broadcast(users), "user_id").join(F.broadcast(items), "item_id")
             .select("u", "i", "conf").cache())
    frame.count()
    df.unpersist()
    return Prepared(frame, user_ids, item_ids)


def from_matrix(spark: Any, data: InteractionData) -> Prepared:
    """An in-driver confidence matrix as a prepared frame (evaluation, benchmarks).

    The matrix is shipped as a few packed numpy buffers (12 bytes per interaction), which the
    Python workers expand into rows, instead of one driver-side Python tuple per interaction
    (minutes and gigabytes at 20M)."""
    coo = sp.coo_matrix(data.matrix)
    packed = np.empty(coo.nnz, dtype=_TRIPLE)
    packed["u"], packed["i"], packed["c"] = coo.row, coo.col, coo.data
    parallelism = max(1, int(spark.sparkContext.defaultParallelism))
    parts = max(parallelism, -(-coo.nnz // _CHUNK_ROWS))
    size = max(1, -(-coo.nnz // parts))
    chunks = [packed[s:s + size].tobytes() for s in range(0, coo.nnz, size)]
    rdd = spark.sparkContext.parallelize(chunks, max(1, len(chunks))).flatMap(_unpack_triples)
    frame = spark.createDataFrame(rdd, "u int, i int, conf float", verifySchema=False).cache()
    return Prepared(frame, np.asarray(data.user_ids).astype(str),
                    np.asarray(data.item_ids).astype(str))


def _unpack_triples(chunk: bytes) -> Iterator[tuple[int, int, float]]:
    a = np.frombuffer(chunk, dtype=_TRIPLE)
    return zip(a["u"].tolist(), a["i"].tolist(), a["c"].tolist(), strict=True)


def collect_matrix(prepared: Prepared) -> sp.csr_matrix:
    """The confidence matrix in the driver (what the service keeps to exclude seen items),
    shipped as one numpy buffer per partition rather than row by row."""

    def pack(rows: Iterator[Any]) -> Iterator[bytes]:
        chunk = [(r[0], r[1], r[2]) for r in rows]
        if chunk:
            yield np.asarray(chunk, dtype=np.float64).tobytes()

    parts = prepared.frame.rdd.mapPartitions(pack).collect()
    arr = (np.concatenate([np.frombuffer(b, dtype=np.float64).reshape(-1, 3) for b in parts])
           if parts else np.zeros((0, 3)))
    matrix = sp.csr_matrix(
        (arr[:, 2].astype(np.float32), (arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64))),
        shape=(len(prepared.user_ids), len(prepared.item_ids)), dtype=np.float32,
    )
    matrix.sort_indices()
    return matrix


def matrix_fingerprint(user_ids: np.ndarray, item_ids: np.ndarray, matrix: sp.csr_matrix) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(user_ids.tolist()).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(item_ids.tolist()).encode())
    for part in (matrix.indptr, matrix.indices, matrix.data):
        h.update(b"\x1e")
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()
