"""Whether and where Spark can run: PySpark installed, a Java to start, a master URL that
answers; and the :func:`spark_session` every Spark job here runs in. What is missing is
reported as :class:`SparkUnavailableError` with a one-line message."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

INSTALL_HINT = 'pip install "recagent[spark]"'
DEFAULT_MASTER = "local[*]"


class SparkUnavailableError(RuntimeError):
    """Spark cannot run here; the message names what is missing (one line)."""


def require_pyspark() -> str:
    """PySpark's version, or :class:`SparkUnavailableError`."""
    try:
        import pyspark  # deferred: optional dependency (pyspark)
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
    from pyspark.sql import SparkSession  # deferred: optional dependency (pyspark)

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
