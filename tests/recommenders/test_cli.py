"""``recagent train`` and ``recagent evaluate`` against a real SQLite catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recagent.cli import main
from tools.recommenders.artifacts import latest_artifact, read_meta


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    model_dir = tmp_path / "models"
    monkeypatch.setenv("RECAGENT_MODEL_DIR", str(model_dir))
    return model_dir


def test_train_on_movielens(ml_sqlite_url: str, env: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", ml_sqlite_url)
    assert main(["train", "--models", "als,popularity", "--seed", "7", "--no-eval"]) == 0
    out = capsys.readouterr().out
    path = latest_artifact(env)
    assert path is not None and f"artifact: {path}" in out
    assert "100836 interactions" in out and "fit_als" in out
    meta = read_meta(path)
    assert meta["models"] == ["als", "popularity"] and meta["seed"] == 7


def test_evaluate_prints_the_table_and_als_wins(
    ml_sqlite_url: str, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", ml_sqlite_url)
    out_json = tmp_path / "out" / "eval.json"
    assert main(["evaluate", "--models", "als,itemknn,popularity", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    for name in ("als", "itemknn", "popularity"):
        assert f"| {name} |" in out
    result = json.loads(out_json.read_text())
    assert result["users"] == 610
    m = result["models"]
    for other in ("itemknn", "popularity"):  # the tuned default ALS must win (issue 2)
        assert m["als"]["hr@10"] > m[other]["hr@10"]
        assert m["als"]["ndcg@10"] > m[other]["ndcg@10"]


def test_train_on_an_empty_catalog_is_a_clear_error(
    sqlite_url: str, env: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", sqlite_url)
    assert main(["train"]) == 2
    assert "no interactions" in capsys.readouterr().err
    assert latest_artifact(env) is None
    assert main(["evaluate", "--json", str(env / "e.json")]) == 2
    assert "no interactions" in capsys.readouterr().err
    assert not (env / "e.json").exists()


def test_unknown_model_name_is_refused(sqlite_url: str, env: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", sqlite_url)
    assert main(["train", "--models", "als,svd"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) svd" in err and "known: als, bpr" in err


def test_train_evaluates_only_when_asked_and_on_a_sample(
    ml_sqlite_url: str, env: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECAGENT_DATABASE_URL", ml_sqlite_url)
    assert main(["train", "--models", "popularity"]) == 0
    out = capsys.readouterr().out
    first = latest_artifact(env)
    assert first is not None and read_meta(first)["metrics"] == {}
    assert "evaluated in" not in out and "hr@10" not in out
    assert main(["train", "--models", "popularity", "--eval-users", "50"]) == 0
    out = capsys.readouterr().out
    second = latest_artifact(env)
    assert second is not None and second != first
    metrics = read_meta(second)["metrics"]
    assert metrics["users"] == 50 and "popularity" in metrics
    assert "evaluated in" in out and "hr@10" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--eval-users", "some"])
    assert exit_info.value.code == 2
    assert "expected a number of users" in capsys.readouterr().err
