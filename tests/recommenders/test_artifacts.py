"""Versioned artifacts: complete ones only, newest wins, nothing pickled, nothing half-written."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from tests.recommenders.conftest import synthetic_log
from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.models import Interaction, Item
from tools.recommenders import artifacts
from tools.recommenders.artifacts import COMPLETE_MARKER, latest_artifact, load_bundle
from tools.recommenders.common import MatrixRecommender
from tools.recommenders.training import make_model, train


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """A SQLite catalog holding the synthetic cluster log."""
    log = synthetic_log()
    eng = make_engine(sqlite_url)
    ensure_schema(eng)
    with eng.begin() as conn:
        conn.execute(insert(Item), [{"item_id": i, "title": f"Item {i}", "title_norm": i}
                                    for i in log.item_ids.tolist()])
        conn.execute(insert(Interaction), [
            {"user_id": str(log.user_ids[u]), "item_id": str(log.item_ids[i]),
             "rating": float(r), "ts": int(t)}
            for u, i, r, t in zip(log.users, log.items, log.ratings, log.ts, strict=True)
        ])
    yield eng
    eng.dispose()


def test_train_writes_a_complete_artifact_that_loads_back(engine: Engine, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    path = train(engine, model_dir, models=("als", "popularity"), seed=3, evaluate=True)
    assert path.parent == model_dir and latest_artifact(model_dir) == path
    assert (path / COMPLETE_MARKER).is_file()
    meta = json.loads((path / "meta.json").read_text())
    assert meta["models"] == ["als", "popularity"]
    assert meta["params"]["als"]["random_state"] == 3
    assert path.name.endswith("-" + meta["fingerprint"][:8])
    assert meta["data"]["interactions"] > 0 and meta["created_at"]
    assert "implicit" in meta["libraries"]
    assert 0.0 <= meta["metrics"]["als"]["hr@10"] <= 1.0
    assert meta["metrics"]["users"] == 90  # every user of the small log: under the sample size

    bundle = load_bundle(model_dir)
    assert bundle.path == path and set(bundle.models) == {"als", "popularity"}
    assert bundle.default.name == "als"
    direct = make_model("als", seed=3)
    from tools.recommenders.data import load_interactions

    direct.fit(load_interactions(engine))
    assert bundle.get("als").recommend("a-user1", 5) == direct.recommend("a-user1", 5)


def test_evaluation_is_opt_in_and_samples_users(engine: Engine, tmp_path: Path) -> None:
    plain = train(engine, tmp_path / "plain", models=("popularity",))
    meta = json.loads((plain / "meta.json").read_text())
    assert meta["metrics"] == {} and "evaluate_s" not in meta["timings"]
    sampled = train(engine, tmp_path / "sampled", models=("popularity",), evaluate=True,
                    eval_users=25)
    metrics = json.loads((sampled / "meta.json").read_text())["metrics"]
    assert metrics["users"] == 25 and 0.0 <= metrics["popularity"]["hr@10"] <= 1.0


def test_nothing_is_pickled(engine: Engine, tmp_path: Path) -> None:
    path = train(engine, tmp_path, models=("als", "bpr", "itemknn", "popularity"),
                 evaluate=False)
    for name in ("als", "bpr", "itemknn", "popularity"):
        for file in (path / name).iterdir():
            assert file.suffix in {".npz", ".json"}, file
            if file.suffix == ".npz":
                with zipfile.ZipFile(file) as zf:
                    for member in zf.namelist():
                        np.load(zf.open(member), allow_pickle=False)
    assert not list(path.rglob("*.pkl")) and not list(path.rglob("*.pickle"))


def test_newest_complete_artifact_wins(engine: Engine, tmp_path: Path) -> None:
    first = train(engine, tmp_path, models=("popularity",), evaluate=False)
    second = train(engine, tmp_path, models=("als",), evaluate=False)
    assert second.name > first.name
    assert latest_artifact(tmp_path) == second
    assert set(load_bundle(tmp_path).models) == {"als"}


def test_half_written_artifacts_are_never_picked(engine: Engine, tmp_path: Path) -> None:
    good = train(engine, tmp_path, models=("popularity",), evaluate=False)
    # a newer, correctly named folder without the marker (a crash before the rename)
    newer = tmp_path / "29991231T235959000000Z-deadbeef"
    newer.mkdir()
    (newer / "meta.json").write_text("{")
    # a temporary folder still being written
    (tmp_path / ".tmp-123456").mkdir()
    # something else entirely
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / COMPLETE_MARKER).write_text("")
    assert latest_artifact(tmp_path) == good
    assert load_bundle(tmp_path).path == good


def test_a_failing_save_leaves_no_trace(engine: Engine, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    good = train(engine, tmp_path, models=("popularity",), evaluate=False)
    before = sorted(os.listdir(tmp_path))

    def broken_save(self: MatrixRecommender, directory: Path) -> None:
        Path(directory).mkdir(parents=True)
        (Path(directory) / "arrays.npz").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(MatrixRecommender, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train(engine, tmp_path, models=("als",), evaluate=False)
    assert sorted(os.listdir(tmp_path)) == before
    assert latest_artifact(tmp_path) == good


def test_no_artifact_is_a_clear_error(tmp_path: Path) -> None:
    assert latest_artifact(tmp_path / "missing") is None
    with pytest.raises(FileNotFoundError, match="recagent train"):
        load_bundle(tmp_path)


def test_artifact_names_sort_by_time() -> None:
    from datetime import UTC, datetime

    a = artifacts.artifact_name("abcdef0123", datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    b = artifacts.artifact_name("00000000ff", datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=UTC))
    assert a == "20240102T030405000006Z-abcdef01" and b > a
    with pytest.raises(ValueError):
        artifacts.artifact_name("not-hex!", datetime.now(UTC))
