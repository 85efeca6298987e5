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

