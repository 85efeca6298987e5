"""The held-out world the simulated users live in.

For every user the target is the LAST positively rated item (rating >= 4; latest timestamp,
ties broken by the larger item id). A copy of the MovieLens folder without the target ratings
is ingested into a separate SQLite catalog and a model bundle is trained on it, so neither the
tools' user histories nor the CF models nor the popularity counts have seen a target. Built
once and reused (keyed by the data's fingerprint and the seed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tools.catalog.ingest
import tools.recommenders
from recagent.simulation.errors import SimulationError
from tools.catalog.db import make_engine
from tools.catalog.ingest import ingest_movielens
from tools.recommenders.training import train

POSITIVE_RATING = 4.0
WORKSPACE_VERSION = "1"  # bump when the held-out world is built differently


@dataclass(frozen=True)
class Target:
    user_id: str
    item_id: str
    ts: int
    rating: float


@dataclass(frozen=True)
class Workspace:
    root: Path
    data_dir: Path  # the MovieLens copy without the targets' ratings
    database_url: str  # its catalog
    model_dir: Path  # models trained on it
    targets: dict[str, Target]  # user_id -> held-out target
    fingerprint: str  # of the source data + seed + workspace version

    def fresh_database(self, path: Path) -> str:
        """A copy of the held-out catalog at ``path`` (its URL) for ONE run to write into.

        The agent keeps durable per-user profiles in the catalog database; a run on the
        pristine copy is what makes a second run with the same seed give the same JSON."""
        return copy_sqlite(self.root / "catalog.db", path)

    def env(self, database_url: str | None = None) -> dict[str, str]:
        """The settings a server must run with to serve this held-out world."""
        return {
            "RECAGENT_DATABASE_URL": database_url or self.database_url,
            "RECAGENT_MODEL_DIR": str(self.model_dir),
            "RECAGENT_LLM": "rules",
            "RECAGENT_RATE_LIMIT_PER_MINUTE": "0",
        }


def choose_targets(rows: Iterable[tuple[str, str, float, int]]) -> dict[str, Target]:
    """``(user_id, item_id, rating, ts)`` rows -> each user's last positively rated item.

    "Last" is the latest timestamp; ties (MovieLens users often rate many movies in the
    same second) go to the larger item id, compared as a number when both are numeric.
    Users without a rating >= 4 get no target."""
    best: dict[str, Target] = {}
    for user_id, item_id, rating, ts in rows:
        if rating < POSITIVE_RATING:
            continue
        cand = Target(user_id, item_id, ts, rating)
        cur = best.get(user_id)
        if cur is None or (ts, id_key(item_id)) > (cur.ts, id_key(cur.item_id)):
            best[user_id] = cand
    return dict(sorted(best.items(), key=lambda kv: id_key(kv[0])))


def id_key(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def read_ratings(path: Path) -> list[tuple[str, str, float, int]]:
    rows: list[tuple[str, str, float, int]] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().casefold() for h in next(reader)]
        try:
            iu, ii = header.index("userid"), header.index("movieid")
            ir, it = header.index("rating"), header.index("timestamp")
        except ValueError:
            raise SimulationError(
                f"{path}:1: expected the header userId,movieId,rating,timestamp"
            ) from None
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((row[iu].strip(), row[ii].strip(), float(row[ir]), int(row[it])))
            except (ValueError, IndexError):
                raise SimulationError(f"{path}:{line}: unreadable rating row") from None
    return rows


def _data_fingerprint(data_dir: Path, seed: int) -> str:
    """The data, the seed, and the code that ingests and trains: a change to any of them
    builds a new workspace instead of reusing a stale one."""
    return workspace_fingerprint(f"simulate-workspace:{WORKSPACE_VERSION}:{seed}", data_dir)


def workspace_fingerprint(label: str, data_dir: Path) -> str:
    """A digest of ``label``, the ml-latest-small files in ``data_dir`` and the ingest and
    training code: the cache key of a workspace built from them (simulate, replay)."""
    digest = hashlib.sha256(label.encode())
    for name in ("movies.csv", "links.csv", "tags.csv", "ratings.csv"):
        path = data_dir / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    code = list(tools.catalog.ingest.SOURCE_FILES)
    code += sorted(Path(tools.recommenders.__path__[0]).glob("*.py"))
    for path in code:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _build(root: Path, data_dir: Path, ratings: Sequence[tuple[str, str, float, int]],
           targets: dict[str, Target], seed: int, say: Callable[[str], None]) -> None:
    """Build the workspace in a folder of this run's own, then rename it into place: two
    runs building at once never share (or delete) one; the first to finish wins."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".tmp-", dir=root.parent))
    try:
        _write_heldout_copy(data_dir, tmp / "data", ratings, targets)
        _ingest_and_train(tmp, seed, say)
        (tmp / "READY").write_text(json.dumps({"targets": len(targets), "seed": seed}))
        if not (root / "READY").is_file():
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_workspace(data_dir: Path, work_dir: Path, *, seed: int = 42,
                      progress: Callable[[str], None] | None = None) -> Workspace:
    """Build (or reuse) the held-out catalog and models for ``data_dir`` under ``work_dir``.

    ``work_dir/<fingerprint>/`` holds ``data/`` (the MovieLens files minus the targets'
    ratings), ``catalog.db`` and ``models/``. It is built in a temporary folder and renamed
    into place, so an interrupted build leaves nothing half-written behind."""
    data_dir = Path(data_dir)
    ratings_path = data_dir / "ratings.csv"
    if not (data_dir / "movies.csv").is_file() or not ratings_path.is_file():
        raise SimulationError(f"{data_dir}: expected an ml-latest-small folder "
                              "(movies.csv and ratings.csv)")
    say = progress or (lambda _m: None)
    fingerprint = _data_fingerprint(data_dir, seed)
    root = Path(work_dir) / fingerprint
    ratings = read_ratings(ratings_path)
    targets = choose_targets(ratings)
    if not targets:
        raise SimulationError(f"{ratings_path}: no user has a rating >= {POSITIVE_RATING}")
    if not (root / "READY").is_file():
        say(f"building the held-out workspace in {root} (once)")
        _build(root, data_dir, ratings, targets, seed, say)
    return Workspace(
        root=root, data_dir=root / "data",
        database_url=f"sqlite:///{(root / 'catalog.db').resolve()}",
        model_dir=(root / "models").resolve(), targets=targets, fingerprint=fingerprint,
    )


def _write_heldout_copy(src: Path, dst: Path, ratings: Sequence[tuple[str, str, float, int]],
                        targets: dict[str, Target]) -> None:
    dst.mkdir(parents=True)
    for name in ("movies.csv", "links.csv", "tags.csv"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    held = {(t.user_id, t.item_id) for t in targets.values()}
    with open(dst / "ratings.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for user_id, item_id, rating, ts in ratings:
            if (user_id, item_id) not in held:
                writer.writerow([user_id, item_id, f"{rating:g}", ts])


def _ingest_and_train(root: Path, seed: int, say: Callable[[str], None]) -> None:
    engine = make_engine(f"sqlite:///{root / 'catalog.db'}")
    try:
        started = time.perf_counter()
        ingest_movielens(engine, root / "data")
        say(f"  ingested the held-out catalog in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        train(engine, root / "models", seed=seed, evaluate=False)
        say(f"  trained the held-out models in {time.perf_counter() - started:.1f}s")
    finally:
        engine.dispose()


def copy_sqlite(source: Path, path: Path) -> str:
    """A consistent copy of the SQLite database ``source`` at ``path`` (replacing whatever
    was there, with its WAL files), read through SQLite's backup API; its URL."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return f"sqlite:///{path}"
