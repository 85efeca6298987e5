"""``recagent train --engine spark``: ALS fitted by Spark MLlib in local mode (``local[2]``,
Java from the machine) on a slice of the bundled MovieLens, written as an ordinary artifact,
loaded with ``load_bundle`` and served by the unchanged API.

PySpark comes from the ``spark`` extra, which ``scripts/setup.sh dev`` installs, so CI runs
these tests. Where it cannot be imported the Spark tests are SKIPPED with a loud reason,
except under CI (``CI`` set), where that is a failure. The error-message tests run anyway.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from recagent.cli import main
from tests.conftest import ML_DIR
from tools.recommenders import spark_training
from tools.recommenders.artifacts import list_artifacts, load_bundle
from tools.recommenders.spark_training import SparkUnavailableError

HAS_PYSPARK = importlib.util.find_spec("pyspark") is not None
SLICE_USERS = 60  # the first users of ratings.csv: ~9k ratings
SMALL = {"factors": 24, "iterations": 6}  # keeps the Spark fit to seconds
MISSING = ("PYSPARK IS NOT INSTALLED: the Spark training engine is NOT TESTED here. "
           'Install it with: pip install -e ".[spark]" (scripts/setup.sh dev does)')

if not HAS_PYSPARK and os.environ.get("CI"):
    raise RuntimeError(MISSING)  # CI must run these tests

needs_spark = pytest.mark.skipif(not HAS_PYSPARK, reason=MISSING)


def _slice_csv(dest: Path, max_users: int = SLICE_USERS) -> Path:
    with (ML_DIR / "ratings.csv").open(newline="") as f, dest.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["user_id", "item_id", "rating", "timestamp"])
        for row in csv.DictReader(f):
            if int(row["userId"]) > max_users:
                break
            w.writerow([row["userId"], row["movieId"], row["rating"], row["timestamp"]])
    return dest


@pytest.fixture(scope="module")
def spark_models(ml_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder holding one Spark-trained artifact: interactions from a CSV slice
    (the scale path), items and the text index from the catalog."""
    from tools.catalog.db import make_engine

    tmp = tmp_path_factory.mktemp("spark")
    engine = make_engine(ml_sqlite_url)
    try:
        spark_training.train_spark(
            tmp / "models", engine=engine, interactions=[_slice_csv(tmp / "slice.csv")],
            master="local[2]", seed=42, params=SMALL, evaluate=False,
        )
    finally:
        engine.dispose()
    return tmp / "models"


@needs_spark
def test_spark_artifact_has_the_local_layout_and_loads_with_load_bundle(
    spark_models: Path,
) -> None:
    (path,) = list_artifacts(spark_models)
    assert (path / "COMPLETE").is_file() and (path / "als" / "arrays.npz").is_file()
    assert not list(path.rglob("*.pkl")) and not list(path.rglob("*.pickle"))
    meta = json.loads((path / "meta.json").read_text())
    assert meta["engine"] == "spark" and meta["spark"]["master"] == "local[2]"
    assert meta["spark"]["als"]["rank"] == SMALL["factors"]
    assert meta["spark"]["als"]["maxIter"] == SMALL["iterations"]
    assert meta["models"] == ["als", "popularity"]

    bundle = load_bundle(spark_models)
    als: Any = bundle.get("als")
    assert type(als).__name__ == "ALSRecommender"  # the ordinary class, nothing Spark-specific
    assert als.user_factors.shape == (SLICE_USERS, SMALL["factors"])
    assert als.item_factors.shape[0] == len(als.item_ids) > 1000
    assert np.all(np.isfinite(als.item_factors)) and np.abs(als.item_factors).sum() > 0
    assert list(als.item_ids) == sorted(als.item_ids)
    # a known user: ten unseen items, best first
    recs = als.recommend("1", n=10)
    assert len(recs) == 10
    seen = set(als.item_ids[als.user_items[als._user_index["1"]].indices])
    assert not seen & {r.item_id for r in recs}
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    # item-to-item and anonymous fold-in work on the Spark factors too
    similar = als.similar_items(["1"], n=5)  # Toy Story
    assert len(similar) == 5 and "1" not in {s.item_id for s in similar}
    assert len(als.recommend_for_items(["1", "3114"], n=5)) == 5
    assert bundle.text is not None


@needs_spark
def test_spark_artifact_is_served_by_the_unchanged_api(
    spark_models: Path, ml_sqlite_url: str,
) -> None:
    from api.app import create_app
    from recagent.settings import load_settings
    from tests.api.support import LiveServer

    settings = load_settings(
        database_url=ml_sqlite_url, model_dir=spark_models, redis_url=None, llm="rules",
        rate_limit_per_minute=0, admin_api_key=None, cors_origins=[], plugins=[],
    )
    server = LiveServer(create_app(settings)).start()
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=30).json()
        assert list_artifacts(spark_models)[0].name in json.dumps(ready)
        # a known user of the slice: ranked by their history
        r = httpx.post(f"{server.url}/v1/chat", timeout=60,
                       json={"message": "recommend me some movies", "user_id": "1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["recommendations"], body["reply"]
        assert "rank_for_user" in _tools_used(body)
        # neighbours of a seed item: similar_items on the Spark item factors
        r = httpx.post(f"{server.url}/v1/chat", timeout=60,
                       json={"message": "movies like Toy Story"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["recommendations"], body["reply"]
        assert "similar_items" in _tools_used(body)
        assert "1" not in {x["item_id"] for x in body["recommendations"]}
    finally:
        server.stop()


def _tools_used(body: dict[str, Any]) -> set[str]:
    return {t.get("name") or t.get("tool") for a in body["trace"]["attempts"]
            for t in a["tools"]}


@needs_spark
def test_evaluate_compares_spark_and_local_als_on_the_same_split(synthetic: Any) -> None:
    result = spark_training.evaluate_spark(
        synthetic, master="local[2]", params=SMALL, local_models=["als", "popularity"],
    )
    assert list(result["models"]) == ["als", "popularity", "als-spark"]
    spark_row, pop = result["models"]["als-spark"], result["models"]["popularity"]
    assert 0.0 <= spark_row["hr@10"] <= 1.0
    # the synthetic users never leave their cluster: factors must beat popularity
    assert spark_row["ndcg@10"] > pop["ndcg@10"]
    assert "als-spark" not in __import__("tools.recommenders.training",
                                         fromlist=["registry"]).registry


# ---- one-line errors naming what is missing (no Spark started) ------------------------
def test_missing_pyspark_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(SparkUnavailableError, match="PySpark is not installed"):
        spark_training.require_pyspark()


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(SparkUnavailableError, match="no Java"):
        spark_training.require_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailableError, match="no Java"):
        spark_training.require_java()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_master_and_bad_arguments_are_one_line_cli_errors(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECAGENT_MODEL_DIR", str(tmp_path / "models"))
    port = _closed_port()
    cases = [
        (["--engine", "spark", "--master", f"spark://127.0.0.1:{port}"],
         f"127.0.0.1:{port}" if HAS_PYSPARK else "PySpark is not installed"),
        (["--engine", "spark", "--master", "mesos://x"],
         "unknown Spark master" if HAS_PYSPARK else "PySpark is not installed"),
        (["--master", "local[2]"], "--master needs --engine spark"),
        (["--engine", "spark", "--models", "bpr"], "fits ALS only"),
    ]
    for extra, expected in cases:
        code = main(["train", "--no-eval", *extra])
        err = capsys.readouterr().err.strip()
        assert code != 0, extra
        assert expected in err, (extra, err)
        assert len(err.splitlines()) == 1, err
    assert not list_artifacts(tmp_path / "models")



# ---- the catalog over JDBC -----------------------------------------------------------------
def test_sqlalchemy_urls_become_jdbc_urls_without_credentials(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    backend, url, props = spark_training.jdbc_url(
        "postgresql+psycopg://shop:s3cr%40t@db.internal:6543/catalog"
        "?sslmode=require&options=-csearch_path%3Dreco")
    assert backend == "postgresql"
    assert url == ("jdbc:postgresql://db.internal:6543/catalog"
                   "?sslmode=require&currentSchema=reco")
    assert props == {"user": "shop", "password": "s3cr@t"}
    assert spark_training.jdbc_url("postgresql://127.0.0.1/test")[1:] == (
        "jdbc:postgresql://127.0.0.1:5432/test", {})
    monkeypatch.chdir(tmp_path)
    assert spark_training.jdbc_url("sqlite:///data/catalog.db")[1] == (
        f"jdbc:sqlite:{tmp_path.resolve() / 'data' / 'catalog.db'}")
    for bad, message in (("sqlite://", "needs a SQLite file"),
                         ("mysql+pymysql://u@h/db", "supports PostgreSQL and SQLite"),
                         ("postgresql://h/db?host=/run/pg", "'host' has no JDBC equivalent")):
        with pytest.raises(ValueError, match=message):
            spark_training.jdbc_url(bad)


def test_missing_jdbc_driver_jar_is_a_one_line_error_naming_package_and_setting(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    not_a_driver = tmp_path / "other.jar"
    import zipfile

    with zipfile.ZipFile(not_a_driver, "w") as z:
        z.writestr("org/example/Other.class", b"")
    for backend, driver in list(spark_training.JDBC_DRIVERS.items()):
        monkeypatch.setitem(spark_training.JDBC_DRIVERS, backend, spark_training.JdbcDriver(
            driver.class_name, driver.debian_package, str(tmp_path / "absent.jar")))
    with pytest.raises(SparkUnavailableError,
                       match="libpostgresql-jdbc-java .* --spark-conf spark.jars="):
        spark_training.jdbc_source("postgresql://127.0.0.1/test",
                                   {"spark.jars": str(not_a_driver)})
    monkeypatch.setenv("RECAGENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RECAGENT_MODEL_DIR", str(tmp_path / "models"))
    cases = [
        (["--engine", "spark", "--jdbc"], "no JDBC driver for sqlite (org.sqlite.JDBC): "
         "apt-get install libxerial-sqlite-jdbc-java"),
        (["--engine", "spark", "--jdbc", "--interactions", str(not_a_driver)], "give one of them"),
        (["--jdbc"], "--jdbc needs --engine spark"),
    ]
    for extra, expected in cases:
        code = main(["train", "--no-eval", *extra])
        err = capsys.readouterr().err.strip()
        assert code != 0, extra
        assert expected in err, (extra, err)
        assert len(err.splitlines()) == 1, err
    assert not list_artifacts(tmp_path / "models")


@needs_spark
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_spark_trains_over_jdbc_and_the_api_serves_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """The executors read the catalog's interactions over JDBC (PostgreSQL in 3 parallel
    queries); the artifact holds exactly what the SQLAlchemy path reads, and is served."""
    from tools.catalog.db import make_engine
    from tools.recommenders.data import load_interactions

    url = request.getfixturevalue("ml_sqlite_url" if backend == "sqlite" else "ml_pg_url")
    for name, jar in (("postgresql", "/usr/share/java/postgresql.jar"),
                      ("sqlite", "/usr/share/java/sqlite-jdbc.jar")):
        if name == backend and not Path(jar).is_file():
            message = f"{jar} is missing: scripts/test.sh installs it"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    engine = make_engine(url)
    try:
        spark_training.train_spark(
            tmp_path / "models", engine=engine, master="local[2]", seed=42, params=SMALL,
            jdbc=True, jdbc_partitions=3, evaluate=False,
        )
        expected = load_interactions(engine)
    finally:
        engine.dispose()
    (path,) = list_artifacts(tmp_path / "models")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["spark"]["source"].startswith(f"catalog database over JDBC (jdbc:{backend}:")
    assert meta["spark"]["jdbc_partitions"] == (3 if backend == "postgresql" else 1)
    als: Any = load_bundle(tmp_path / "models").get("als")
    assert list(als.user_ids) == list(expected.user_ids)
    assert list(als.item_ids) == list(expected.item_ids)
    assert (als.user_items != expected.matrix).nnz == 0  # same confidences, cell by cell
    _serves_user_one(tmp_path / "models", url)


def _serves_user_one(model_dir: Path, database_url: str) -> None:
    from api.app import create_app
    from recagent.settings import load_settings
    from tests.api.support import LiveServer

    settings = load_settings(
        database_url=database_url, model_dir=model_dir, redis_url=None, llm="rules",
        rate_limit_per_minute=0, admin_api_key=None, cors_origins=[], plugins=[],
    )
    server = LiveServer(create_app(settings)).start()
    try:
        r = httpx.post(f"{server.url}/v1/chat", timeout=60,
                       json={"message": "recommend me some movies", "user_id": "1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["recommendations"], body["reply"]
        assert "rank_for_user" in _tools_used(body)
    finally:
        server.stop()


@needs_spark
def test_unreachable_database_over_jdbc_is_one_line_naming_the_cause() -> None:
    if not Path(spark_training.JDBC_DRIVERS["postgresql"].default_jar).is_file():
        pytest.skip("libpostgresql-jdbc-java is not installed (scripts/test.sh installs it)")
    source = spark_training.jdbc_source(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x")
    conf = spark_training.with_jdbc_jar({}, source)
    with (spark_training.spark_session("local[1]", conf) as spark,
          pytest.raises(SparkUnavailableError) as caught):
        spark_training.read_jdbc(spark, source)
    message = str(caught.value)
    assert message.startswith("could not read the catalog over JDBC (jdbc:postgresql://127.0.0.1:")
    assert "Connection refused" in message and len(message.splitlines()) == 1
