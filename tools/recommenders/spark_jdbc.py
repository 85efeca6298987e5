"""Reading the catalog's interactions over JDBC, by the Spark executors: the JDBC URL and
properties for a SQLAlchemy URL (credentials never in the URL), the driver jar (PySpark
ships none), and the partitioned read (PostgreSQL: whole users per partition)."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy.engine import make_url

from tools.recommenders.spark_env import SparkUnavailableError


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
    from pyspark.sql import functions as F  # deferred: optional dependency (pyspark)

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
