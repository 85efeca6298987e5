"""``recagent train --engine spark``: implicit-feedback ALS on Apache Spark (MLlib), written
into the same versioned artifact the service already loads.

Why and when: see ``docs/spark.md``. In short, ``implicit`` on one machine is right up to tens
of millions of interactions; beyond that, or where the logs already live next to a Spark
cluster, this module fits the factors there and ships only the result.

Pipeline (every stage reports its time when ``progress`` is on):

1. **read** the interactions: from Parquet/CSV files (``user_id,item_id[,rating][,timestamp]``;
   the scale case: the log never passes through SQL or the driver's memory), or from the
   catalog database: over JDBC (``jdbc=True``; the executors read the table, PostgreSQL in
   ``jdbc_partitions`` parallel queries; needs the JDBC driver jar, which PySpark does not
   ship, see :func:`jdbc_source`), or else with SQLAlchemy in the driver, handed to Spark.
2. **prepare**, in Spark: one row per (user, item) (the latest timestamp wins), ``min_rating``,
   confidences ``1 + r / r_max`` (unrated: 1) exactly as :mod:`tools.recommenders.data`, ids
   coded against their sorted unique values (the catalog order the models use for ties).
3. **weigh**, in Spark: the same BM25 row weighting as the local ALS (``weighting="bm25"``,
   ``bm25_k1``, ``bm25_b``; the idf and average row length are kept for fold-in at serve time).
4. **fit** ``pyspark.ml.recommendation.ALS(implicitPrefs=True)`` with the local ALS's
   hyper-parameters mapped: ``factors -> rank``, ``iterations -> maxIter``, ``alpha -> alpha``,
   ``random_state -> seed``, ``regularization -> regParam`` divided by the mean number of
   interactions per user (MLlib scales the penalty of each user's and item's solve by its
   number of interactions, ALS-WR; ``implicit`` does not). See :func:`spark_als_params`.
5. **collect** the factors and the confidence matrix (the service needs both: scores, and the
   user's history to exclude seen items) to the driver, and **write** an ordinary ``als``
   model folder (``arrays.npz`` + ``params.json``, never pickle) plus ``popularity`` and the text
   index into a new artifact (hidden temporary folder, ``COMPLETE`` marker, atomic rename), so
   :func:`tools.recommenders.artifacts.load_bundle` and the API serve it unchanged.

Failures (PySpark not installed, no Java, an unreachable master, no JDBC driver jar, a database
JDBC cannot reach) raise :class:`SparkUnavailableError` with a one-line message naming what is
missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import scipy.sparse as sp

from tools.recommenders.als import ALSRecommender
from tools.recommenders.base import InteractionData

INSTALL_HINT = 'pip install "recagent[spark]"'
DEFAULT_MASTER = "local[*]"
_USER_ALIASES = ("user_id", "userId", "user")
_ITEM_ALIASES = ("item_id", "itemId", "movieId", "item")
_TS_ALIASES = ("timestamp", "ts")


class SparkUnavailableError(RuntimeError):
    """Spark cannot run here; the message names what is missing (one line)."""


# ---- environment checks ------------------------------------------------------------------
def require_pyspark() -> str:
    """PySpark's version, or :class:`SparkUnavailableError`."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailableError(
            f"PySpark is not installed: {INSTALL_HINT} (or pip install pyspark)"
        ) from None
    return str(pyspark.__version__)


def require_java() -> str:
    """The ``java`` executable Spark will start, or :class:`SparkUnavailableError`."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if java.is_file() and os.access(java, os.X_OK):
            return str(java)
        raise SparkUnavailableError(f"no Java: JAVA_HOME={home} has no bin/java "
                                    "(Spark needs Java 17 or newer)")
    found = shutil.which("java")
    if found is None:
        raise SparkUnavailableError("no Java: Spark needs Java 17 or newer on PATH or in "
                                    "JAVA_HOME (e.g. apt-get install openjdk-17-jre-headless)")
    return found


def check_master(master: str, *, timeout_s: float = 5.0) -> None:
    """Reject a malformed master URL; for ``spark://host:port`` make sure something listens
    there (Spark itself would retry for a minute before giving up)."""
    if master.startswith("local") or master == "yarn" or master.startswith("k8s://"):
        return
    if not master.startswith("spark://"):
        raise SparkUnavailableError(
            f"unknown Spark master {master!r}: use local[N], spark://HOST:PORT, yarn or k8s://URL"
        )
    for hostport in master.removeprefix("spark://").split(","):  # HA: host1:7077,host2:7077
        parts = urlsplit(f"spark://{hostport}")
        host, port = parts.hostname, parts.port or 7077
        if not host:
            raise SparkUnavailableError(f"Spark master {master!r} has no host")
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except OSError as exc:
            last = f"{host}:{port} ({exc.strerror or exc})"
    raise SparkUnavailableError(f"Spark master {master} is unreachable: {last}")


@contextmanager
def spark_session(master: str = DEFAULT_MASTER,
                  conf: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A SparkSession for the duration of the block (stopped afterwards)."""
    require_pyspark()
    require_java()
    check_master(master)
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName("recagent-train")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(_shuffle_partitions(master))))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up errors: keep one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailableError(f"could not start Spark (master {master}): {first}") from None
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _shuffle_partitions(master: str) -> int:
    """Spark's default (200) drowns a local run in tiny tasks: use 2 per local core."""
    if not master.startswith("local"):
        return 200
    inside = master.partition("[")[2].partition("]")[0].split(",")[0]
    cores = int(inside) if inside.isdigit() else (os.cpu_count() or 2)
    return max(2, 2 * cores)


# ---- reading -------------------------------------------------------------------------------
def read_files(spark: Any, paths: Sequence[str | Path]) -> Any:
    """Interactions from Parquet or CSV files (by extension; a folder is read as Parquet),
    normalised to ``user_id string, item_id string, rating double, ts long`` (null when
    absent). CSV needs a header row; ``userId``/``movieId`` (MovieLens) are accepted too;
    a timestamp is unix seconds or ISO 8601."""
    from pyspark.sql import functions as F

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


# ---- the catalog over JDBC ------------------------------------------------------------------
@dataclass(frozen=True)
class JdbcDriver:
    class_name: str
    debian_package: str
    default_jar: str


JDBC_DRIVERS = {
    "postgresql": JdbcDriver("org.postgresql.Driver", "libpostgresql-jdbc-java",
                             "/usr/share/java/postgresql.jar"),
    "sqlite": JdbcDriver("org.sqlite.JDBC", "libxerial-sqlite-jdbc-java",
                         "/usr/share/java/sqlite-jdbc.jar"),
}
_PG_PARAMS = {"sslmode": "sslmode", "sslrootcert": "sslrootcert", "sslcert": "sslcert",
              "sslkey": "sslkey", "application_name": "ApplicationName",
              "connect_timeout": "connectTimeout"}


@dataclass(frozen=True)
class JdbcSource:
    backend: str  # "postgresql" | "sqlite"
    url: str  # jdbc:..., without credentials
    properties: dict[str, str]  # user, password, driver
    jar: str

    @property
    def label(self) -> str:
        return f"catalog database over JDBC ({self.url})"


def jdbc_url(database_url: str) -> tuple[str, str, dict[str, str]]:
    """``(backend, jdbc_url, properties)`` for a SQLAlchemy URL (PostgreSQL or a SQLite
    file); credentials go into the properties, never into the URL."""
    from urllib.parse import quote, urlencode

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise ValueError("JDBC needs a SQLite file (sqlite:///path/to/catalog.db), "
                             f"not {url.render_as_string(hide_password=True)}")
        return backend, f"jdbc:sqlite:{Path(url.database).resolve()}", {}
    if backend != "postgresql":
        raise ValueError(f"reading the catalog over JDBC supports PostgreSQL and SQLite, "
                         f"not {backend}")
    if not url.database:
        raise ValueError("the PostgreSQL URL names no database")
    params: dict[str, str] = {}
    for key, value in url.query.items():
        value = value if isinstance(value, str) else value[-1]
        if key in _PG_PARAMS:
            params[_PG_PARAMS[key]] = value
        elif key == "options" and value.strip().startswith("-csearch_path="):
            params["currentSchema"] = value.strip().removeprefix("-csearch_path=")
        else:
            raise ValueError(f"the PostgreSQL URL parameter {key!r} has no JDBC equivalent "
                             "here: drop it to read over JDBC")
    host = url.host or "localhost"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    jdbc = f"jdbc:postgresql://{host}:{url.port or 5432}/{quote(url.database, safe='')}"
    if params:
        jdbc += "?" + urlencode(params)
    props = {"user": url.username} if url.username else {}
    if url.password is not None:
        props["password"] = str(url.password)
    return backend, jdbc, props


def jdbc_source(database_url: str, conf: Mapping[str, str] | None = None) -> JdbcSource:
    """Where and how Spark reads the catalog over JDBC. The driver jar is the first jar in
    ``spark.jars`` holding the driver class, else the Debian package's jar; none gives
    :class:`SparkUnavailableError` naming the package and the setting."""
    backend, url, props = jdbc_url(database_url)
    driver = JDBC_DRIVERS[backend]
    listed = [j.strip() for j in (conf or {}).get("spark.jars", "").split(",") if j.strip()]
    for jar in [*listed, driver.default_jar]:
        if _jar_has_class(jar, driver.class_name):
            return JdbcSource(backend, url, {**props, "driver": driver.class_name}, jar)
    raise SparkUnavailableError(
        f"no JDBC driver for {backend} ({driver.class_name}): apt-get install "
        f"{driver.debian_package} ({driver.default_jar}) or pass --spark-conf "
        f"spark.jars=/path/to/the-driver.jar"
    )


def _jar_has_class(jar: str, class_name: str) -> bool:
    import zipfile

    path = jar.removeprefix("file:")
    if "://" in path:  # a remote jar: trust it, Spark fetches it
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return class_name.replace(".", "/") + ".class" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def with_jdbc_jar(conf: Mapping[str, str] | None, source: JdbcSource) -> dict[str, str]:
    """``conf`` with the driver jar in ``spark.jars`` (shipped to the executors)."""
    out = dict(conf or {})
    jars = [j.strip() for j in out.get("spark.jars", "").split(",") if j.strip()]
    if source.jar not in jars:
        out["spark.jars"] = ",".join([*jars, source.jar])
    return out


def read_jdbc(spark: Any, source: JdbcSource, *, partitions: int | None = None) -> Any:
    """The catalog's ``interactions`` read by the executors over JDBC, normalised like
    :func:`read_files`. PostgreSQL is read in ``partitions`` parallel queries (default:
    Spark's parallelism), split on a numeric column computed from a hash of ``user_id``, so
    each partition holds whole users; a SQLite file is read in one."""
    from pyspark.sql import functions as F

    if "://" not in source.jar.removeprefix("file:"):
        # the driver's side needs the class too: ``spark.jars`` reaches its class path only
        # when it starts the JVM, ADD JAR also when this process already runs one
        spark.sql(f"ADD JAR '{source.jar.removeprefix('file:')}'")
    columns = "user_id, item_id, rating, ts"
    reader = spark.read.format("jdbc").option("url", source.url).option("fetchsize", "10000")
    for key, value in source.properties.items():
        reader = reader.option(key, value)
    if source.backend == "postgresql":
        n = max(1, int(partitions or spark.sparkContext.defaultParallelism))
        table = (f"(SELECT {columns}, abs(hashtext(user_id)::bigint) % {n} AS recagent_part "
                 "FROM interactions) AS recagent_interactions")
        reader = (reader.option("dbtable", table).option("partitionColumn", "recagent_part")
                  .option("lowerBound", "0").option("upperBound", str(n))
                  .option("numPartitions", str(n)))
    else:
        reader = reader.option("dbtable", f"(SELECT {columns} FROM interactions)")
    try:
        df = reader.load()
    except Exception as exc:  # py4j errors: the JDBC driver's own message, one line
        raise SparkUnavailableError(
            f"could not read the catalog over JDBC ({source.url}): {_java_message(exc)}"
        ) from None
    return df.select(
        F.col("user_id").cast("string").alias("user_id"),
        F.col("item_id").cast("string").alias("item_id"),
        F.col("rating").cast("double").alias("rating"),
        F.col("ts").cast("long").alias("ts"),
    )


def _java_message(exc: BaseException) -> str:
    """One line for a JVM error: its root cause (``PSQLException: Connection to ... refused``)
    rather than Spark's wrapper."""
    java = getattr(exc, "_origin", None) or getattr(exc, "java_exception", None)
    if java is not None:
        try:
            for _ in range(20):  # a cause chain, bounded
                cause = java.getCause()
                if cause is None:
                    break
                java = cause
            name, _, message = str(java.toString()).partition(": ")
            return f"{name.rpartition('.')[2]}: {message}".strip(": ").splitlines()[0]
        except Exception:  # the gateway itself failed: fall back to the Python text
            pass
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_catalog(spark: Any, engine: Any) -> tuple[Any, Any]:
    """The catalog's interactions, read with SQLAlchemy in the driver and handed to Spark,
    plus the in-driver log (its fingerprint is the one a local ``recagent train`` records)."""
    from tools.recommenders.data import NO_TS, load_log

    log = load_log(engine)
    rows = [
        (str(log.user_ids[u]), str(log.item_ids[i]),
         None if np.isnan(r) else float(r), None if t == NO_TS else int(t))
        for u, i, r, t in zip(log.users.tolist(), log.items.tolist(), log.ratings.tolist(),
                              log.ts.tolist(), strict=True)
    ]
    return spark.createDataFrame(rows, _RAW_SCHEMA_DDL), log


_RAW_SCHEMA_DDL = "user_id string, item_id string, rating double, ts long"


# ---- preparing -----------------------------------------------------------------------------
@dataclass
class Prepared:
    frame: Any  # Spark DataFrame (u int, i int, conf float)
    user_ids: np.ndarray  # str, sorted; index u
    item_ids: np.ndarray  # str, sorted; index i


def prepare(spark: Any, raw: Any, *, min_rating: float | None = None) -> Prepared:
    """One row per (user, item), confidences, ids coded against their sorted values."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

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


_TRIPLE = np.dtype([("u", "<i4"), ("i", "<i4"), ("c", "<f4")])
_CHUNK_ROWS = 500_000  # 6 MB per shipped chunk


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


# ---- weighting and fitting -------------------------------------------------------------------
def spark_als_params(params: Mapping[str, Any], mean_per_user: float) -> dict[str, Any]:
    """MLlib ALS arguments for the local ALS parameters ``params``.

    ``regParam``: MLlib multiplies it by each user's (item's) number of interactions;
    ``implicit`` uses the plain value, so the local penalty is divided by the mean number
    of interactions per user. ``alpha``: MLlib's confidence is ``1 + alpha * w``,
    implicit's ``alpha * w`` (both with weight 1 for unobserved pairs); equal alphas."""
    return {
        "rank": int(params["factors"]),
        "maxIter": int(params["iterations"]),
        "regParam": float(params["regularization"]) / max(float(mean_per_user), 1.0),
        "alpha": float(params["alpha"]),
        "seed": int(params["random_state"]),
    }


@dataclass
class SparkFit:
    user_factors: np.ndarray
    item_factors: np.ndarray
    idf: np.ndarray
    avg_length: float
    popularity: np.ndarray
    spark_params: dict[str, Any]


def fit_als(prepared: Prepared, params: Mapping[str, Any]) -> SparkFit:
    """Weigh (BM25 when asked) and fit MLlib's implicit ALS; factors come back to the
    driver as float32 arrays indexed like ``prepared``'s id arrays."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    p = {**ALSRecommender.defaults, **params}
    frame = prepared.frame
    spark = frame.sparkSession
    n_users, n_items = len(prepared.user_ids), len(prepared.item_ids)
    popularity = np.zeros(n_items, dtype=np.float32)
    for i, count in frame.groupBy("i").count().collect():
        popularity[i] = count
    lengths = frame.groupBy("u").agg(F.sum("conf").alias("len"))
    avg_length = float(lengths.agg(F.avg("len")).first()[0])
    idf = np.maximum(np.log(n_users) - np.log1p(popularity), 1e-3).astype(np.float32)
    if p["weighting"] == "bm25":
        k1, b = float(p["bm25_k1"]), float(p["bm25_b"])
        idf_df = spark.createDataFrame(list(zip(range(n_items), idf.astype(float).tolist(),
                                                strict=True)), "i int, idf double")
        norm = (1.0 - b) + b * F.col("len") / avg_length
        weighted = (frame.join(lengths, "u").join(F.broadcast(idf_df), "i")
                    .select("u", "i", (F.col("conf") * (k1 + 1.0) / (k1 * norm + F.col("conf"))
                                       * F.col("idf")).cast("float").alias("w")))
    else:
        weighted = frame.select("u", "i", F.col("conf").alias("w"))
    spark_params = spark_als_params(p, frame.count() / max(n_users, 1))
    blocks = max(2, int(spark.sparkContext.defaultParallelism))  # MLlib's default: 10
    als = ALS(userCol="u", itemCol="i", ratingCol="w", implicitPrefs=True,
              coldStartStrategy="drop", numUserBlocks=blocks, numItemBlocks=blocks,
              **spark_params)
    model = als.fit(weighted)
    rank = spark_params["rank"]
    uf = _factors(model.userFactors, n_users, rank)
    itf = _factors(model.itemFactors, n_items, rank)
    return SparkFit(uf, itf, idf, avg_length, popularity, spark_params)


def _factors(df: Any, n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank), dtype=np.float32)
    for idx, features in df.collect():
        out[idx] = features
    return out


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


def to_recommender(fit: SparkFit, data: InteractionData,
                   params: Mapping[str, Any]) -> ALSRecommender:
    """An ordinary :class:`ALSRecommender` holding the Spark-fitted factors."""
    model = ALSRecommender(**dict(params))
    model._set_ids(np.asarray(data.user_ids).astype(str), np.asarray(data.item_ids).astype(str))
    model.user_items = sp.csr_matrix(data.matrix, dtype=np.float32)
    model.popularity = fit.popularity
    model._restore({"user_factors": fit.user_factors, "item_factors": fit.item_factors,
                    "idf": fit.idf, "avg_length": np.asarray([fit.avg_length])})
    return model


def matrix_fingerprint(user_ids: np.ndarray, item_ids: np.ndarray, matrix: sp.csr_matrix) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(user_ids.tolist()).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(item_ids.tolist()).encode())
    for part in (matrix.indptr, matrix.indices, matrix.data):
        h.update(b"\x1e")
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()


# ---- the whole run ---------------------------------------------------------------------------
def train_spark(
    model_dir: Path,
    *,
    engine: Any = None,
    interactions: Sequence[str | Path] = (),
    master: str = DEFAULT_MASTER,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    progress: bool = False,
    evaluate: bool = True,
    conf: Mapping[str, str] | None = None,
    jdbc: bool = False,
    jdbc_partitions: int | None = None,
) -> Path:
    """Fit ALS on Spark and write a new artifact (``als`` + ``popularity`` + the text index
    when ``engine`` is given); returns its folder. Interactions come from ``interactions``
    files when given, else from the catalog at ``engine``: over JDBC when ``jdbc`` (read by
    the executors, see :func:`read_jdbc`), else with SQLAlchemy in the driver."""
    from tools.recommenders import artifacts
    from tools.recommenders.popularity import PopularityRecommender
    from tools.recommenders.training import NoInteractionsError

    _check_sources(engine, interactions, jdbc)
    source_jdbc = None
    if jdbc:
        source_jdbc = jdbc_source(engine.url.render_as_string(hide_password=False), conf)
        conf = with_jdbc_jar(conf, source_jdbc)
    als_params = {**ALSRecommender.defaults, "random_state": seed, **dict(params or {})}
    ALSRecommender(**als_params)  # unknown / bad parameters fail before Spark starts
    _check_files(interactions)
    timings: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    clock = time.perf_counter()

    def stage(name: str, message: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_s"] = now - clock
        clock = now
        if progress:
            print(f"[spark] {message} in {timings[f'{name}_s']:.2f}s", flush=True)

    spark_version = require_pyspark()
    with spark_session(master, conf) as spark:
        stage("start", f"started Spark {spark_version} on {master}")
        raw, log, source, read_partitions = _read_source(
            spark, engine, interactions, source_jdbc, jdbc_partitions)
        prepared = prepare(spark, raw, min_rating=min_rating)
        if len(prepared.user_ids) == 0:
            raise NoInteractionsError(f"no interactions to train on in {source}")
        stage("read", f"read {len(prepared.user_ids)} users x {len(prepared.item_ids)} items "
                      f"from {source}")
        fit = fit_als(prepared, als_params)
        sp_ = fit.spark_params
        stage("fit_als", f"fitted ALS (rank {sp_['rank']}, regParam {sp_['regParam']:.4g}, "
                         f"maxIter {sp_['maxIter']})")
        matrix = collect_matrix(prepared)
        prepared.frame.unpersist()
        stage("collect", f"collected {matrix.nnz} interactions and the factors")
        if evaluate and log is not None:
            metrics = _evaluate_metrics(spark, log, seed=seed, params=als_params,
                                        min_rating=min_rating)
            stage("evaluate", "evaluated (leave-last-out, ALS fitted on Spark)")
        elif evaluate:
            where = "over JDBC" if source_jdbc is not None else "from files"
            metrics = {"skipped": f"interactions read {where}: `recagent evaluate --engine "
                                  "spark` evaluates the catalog's interactions"}
    fingerprint = _fingerprint(log, min_rating, prepared, matrix)
    data = InteractionData(matrix=matrix, user_ids=prepared.user_ids,
                           item_ids=prepared.item_ids, fingerprint=fingerprint)
    with artifacts.writing_artifact(model_dir, fingerprint) as tmp:
        als = to_recommender(fit, data, als_params)
        als.save(tmp / "als")
        pop = PopularityRecommender()
        pop.fit(data)
        pop.save(tmp / "popularity")
        if engine is not None:
            text_index = artifacts._text_index_class()
            if text_index is not None:
                text_index.build(engine).save(tmp / artifacts.TEXT_DIR)
        stage("write", "wrote the artifact")
        meta = {
            "models": ["als", "popularity"],
            "params": {"als": als.params, "popularity": pop.params},
            "engine": "spark",
            "spark": {"master": master, "version": spark_version, "als": fit.spark_params,
                      "source": source,
                      **({"jdbc_partitions": read_partitions} if read_partitions else {})},
            "metrics": metrics,
            "seed": seed,
            "min_rating": min_rating,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "data": {"interactions": int(matrix.nnz), "users": len(data.user_ids),
                     "items": len(data.item_ids)},
        }
        return artifacts.publish(tmp, fingerprint, meta)


def _check_sources(engine: Any, interactions: Sequence[str | Path], jdbc: bool) -> None:
    """:func:`train_spark` reads interaction files or the catalog database (JDBC: only it)."""
    if engine is None and not interactions:
        raise ValueError("give interaction files or a catalog database")
    if jdbc and (interactions or engine is None):
        raise ValueError("JDBC reads the catalog database: give it, and no interaction files")


def _check_files(interactions: Sequence[str | Path]) -> None:
    """Local interaction files exist (URLs are left to Spark)."""
    for name in map(str, interactions):
        if "://" not in name and not Path(name).exists():
            raise FileNotFoundError(f"{name}: no such file")


def _read_source(
    spark: Any, engine: Any, interactions: Sequence[str | Path], source_jdbc: JdbcSource | None,
    jdbc_partitions: int | None,
) -> tuple[Any, Any, str, int | None]:
    """The raw interactions frame from the files, over JDBC or from the catalog through
    SQLAlchemy: (frame, the catalog's interaction log or None, source label, JDBC read
    partitions or None)."""
    log = None
    read_partitions = None
    if interactions:
        raw = read_files(spark, interactions)
        source = ", ".join(str(p) for p in interactions)
    elif source_jdbc is not None:
        raw = read_jdbc(spark, source_jdbc, partitions=jdbc_partitions)
        source = source_jdbc.label
        read_partitions = int(raw.rdd.getNumPartitions())
    else:
        raw, log = read_catalog(spark, engine)
        source = "catalog database (SQLAlchemy, handed to Spark)"
    return raw, log, source, read_partitions


def _evaluate_metrics(spark: Any, log: Any, *, seed: int, params: Mapping[str, Any],
                      min_rating: float | None) -> dict[str, Any]:
    """The artifact's metrics: leave-last-out with ALS fitted on Spark (or why skipped)."""
    try:
        result = evaluate_with(spark, log, seed=seed, params=params, min_rating=min_rating)
        row = {k: v for k, v in result["models"]["als-spark"].items() if k != "params"}
        return {"als": row, "users": result["users"]}
    except ValueError as exc:  # e.g. no user with two interactions
        return {"skipped": str(exc)}


def _fingerprint(log: Any, min_rating: float | None, prepared: Prepared,
                 matrix: sp.csr_matrix) -> str:
    """The artifact's data fingerprint: the catalog log's (with the rating floor), else the
    collected matrix's."""
    if log is not None:
        fingerprint: str = log.fingerprint()
        if min_rating is not None:
            fingerprint = hashlib.sha256(
                f"{fingerprint}:min_rating={min_rating}".encode()).hexdigest()
        return fingerprint
    return matrix_fingerprint(prepared.user_ids, prepared.item_ids, matrix)


# ---- evaluation ------------------------------------------------------------------------------
def evaluate_spark(
    log: Any,
    *,
    master: str = DEFAULT_MASTER,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    local_models: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The project's leave-last-out evaluation with a row ``als-spark`` (ALS fitted on
    Spark at ``master``) next to ``local_models`` (fitted locally, as ``recagent evaluate``)."""
    with spark_session(master, conf) as spark:
        return evaluate_with(spark, log, seed=seed, params=params, min_rating=min_rating,
                             local_models=local_models)


def evaluate_with(
    spark: Any,
    log: Any,
    *,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    local_models: Sequence[str] = (),
) -> dict[str, Any]:
    """:func:`tools.recommenders.evaluation.evaluate` (same split, same metrics code) with
    ``als-spark`` added: for the duration of the call only, that name is registered for a
    subclass of the local ALS whose fit runs on ``spark``. Artifacts never name it."""
    from tools.recommenders import training
    from tools.recommenders.evaluation import evaluate

    class SparkALS(ALSRecommender):
        def fit(self, data: InteractionData) -> None:
            prepared = from_matrix(spark, data)
            fit = fit_als(prepared, self.params)
            prepared.frame.unpersist()
            self.__dict__.update(to_recommender(fit, data, self.params).__dict__)

    training.registry["als-spark"] = SparkALS
    try:
        model_params = {name: dict(params or {}) for name in ("als", "als-spark")}
        return evaluate(log, models=[*local_models, "als-spark"], seed=seed,
                        params=model_params, min_rating=min_rating)
    finally:
        training.registry.pop("als-spark", None)
