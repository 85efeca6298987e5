"""``recagent simulate`` from the command line (floors only: fast, no agent needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recagent import simulation as sim
from recagent.cli import main


def _args(mini_ml_dir: Path, workdir: Path, *extra: str) -> list[str]:
    return ["simulate", "--data", str(mini_ml_dir), "--workdir", str(workdir), "--seed", "7",
            "--quiet", *extra]


def test_floors_table_and_json(mini_ml_dir: Path, mini_workspace: sim.Workspace,
                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    workdir = mini_workspace.root.parent  # reuse the session's held-out world
    argv = _args(mini_ml_dir, workdir, "--system", "filter-floor", "--variant", "both",
                 "--users", "6", "--max-turns", "3", "--json", str(out))
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| filter-floor | history | 6 |" in table and "| filter-floor | cold | 6 |" in table
    report = json.loads(out.read_text())
    assert report["config"]["users"] == 6 and report["config"]["max_turns"] == 3
    # each cutoff k is its own set of conversations, the user shown k items a turn
    assert [(r["system"], r["variant"], r["k"]) for r in report["runs"]] == [
        ("filter-floor", "history", 5), ("filter-floor", "history", 10),
        ("filter-floor", "cold", 5), ("filter-floor", "cold", 10)]
    for r in report["runs"]:
        assert all(len(t["items"]) <= r["k"] for e in r["episodes"] for t in e["turns"])
        assert all(key.endswith(f"_k{r['k']}") for key in r["metrics"] if "@" in key)
    assert any(len(t["items"]) == 10 for e in report["runs"][1]["episodes"] for t in e["turns"])
    run = report["runs"][0]
    assert len(run["episodes"]) == 6
    assert all(1 <= len(e["turns"]) <= 3 for e in run["episodes"])
    assert "success@5_k5" not in run["metrics"]  # a 3-turn budget cannot report T=5
    # deterministic: the same command writes the same report (timing aside)
    again = tmp_path / "again.json"
    assert main(argv[:-1] + [str(again)]) == 0
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    assert sim.deterministic_part(first) == sim.deterministic_part(second)


def test_prepare_prints_the_env_to_serve(mini_ml_dir: Path, mini_workspace: sim.Workspace,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(mini_ml_dir, mini_workspace.root.parent, "--prepare")) == 0
    out = capsys.readouterr().out
    serve_db = mini_workspace.root / "serve.db"
    assert f"export RECAGENT_DATABASE_URL=sqlite:///{serve_db}" in out and serve_db.is_file()
    assert f"export RECAGENT_MODEL_DIR={mini_workspace.model_dir}" in out


@pytest.mark.parametrize("extra, message", [
    (["--mode", "http"], "--mode http needs --url"),
    (["--url", "http://127.0.0.1:9"], "--url is only used with --mode http"),
    (["--cold-start", "--variant", "history"], "--cold-start conflicts"),
])
def test_bad_arguments_are_clear_errors(extra: list[str], message: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--workdir", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was built


def test_not_a_movielens_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--data", str(tmp_path), "--workdir", str(tmp_path / "w")]) == 2
    assert "expected an ml-latest-small folder" in capsys.readouterr().err


def test_unreachable_server_is_a_clear_error(mini_ml_dir: Path, mini_workspace: sim.Workspace,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = _args(mini_ml_dir, mini_workspace.root.parent, "--mode", "http",
                 "--url", "http://127.0.0.1:9", "--users", "2", "--max-turns", "2")
    assert main(argv) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
