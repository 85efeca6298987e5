"""Fixtures of the simulation tests: real episodes from the bundled catalog, and a small
held-out world (a few dozen MovieLens users) built once per test session."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from recagent import simulation as sim

MINI_USERS = 40  # users of the small MovieLens copy the harness tests run on


@pytest.fixture(scope="session")
def ml_targets() -> dict[str, sim.Target]:
    from tests.conftest import ML_DIR

    return sim.choose_targets(sim.read_ratings(ML_DIR / "ratings.csv"))


@pytest.fixture(scope="session")
def ml_episodes(ml_sqlite_url: str, ml_targets: dict[str, sim.Target]) -> list[sim.Episode]:
    """Every user's episode, from the full bundled catalog (read-only)."""
    return sim.build_episodes(sim.SimCatalog.load(ml_sqlite_url), ml_targets)


@pytest.fixture(scope="session")
def mini_ml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled MovieLens with only the first MINI_USERS users' ratings."""
    from tests.conftest import ML_DIR

    out = tmp_path_factory.mktemp("mini-ml")
    for name in ("movies.csv", "links.csv", "tags.csv"):
        shutil.copyfile(ML_DIR / name, out / name)
    with open(ML_DIR / "ratings.csv", encoding="utf-8", newline="") as src, \
            open(out / "ratings.csv", "w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\r\n")
        writer.writerow(next(reader))
        for row in reader:
            if int(row[0]) <= MINI_USERS:
                writer.writerow(row)
    return out


@pytest.fixture(scope="session")
def mini_workspace(mini_ml_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> sim.Workspace:
    return sim.prepare_workspace(mini_ml_dir, tmp_path_factory.mktemp("sim-work"), seed=7)


@pytest.fixture(scope="session")
def mini_catalog(mini_workspace: sim.Workspace) -> sim.SimCatalog:
    return sim.SimCatalog.load(mini_workspace.database_url)


@pytest.fixture(scope="session")
def mini_episodes(mini_catalog: sim.SimCatalog, mini_workspace: sim.Workspace) -> list[sim.Episode]:
    return sim.build_episodes(mini_catalog, mini_workspace.targets)
