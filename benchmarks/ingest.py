"""Catalog import throughput on SQLite and PostgreSQL.

Data sets: the bundled MovieLens ml-latest-small (100,836 ratings) and a synthetic design-§6
CSV pair (~1M interactions, 20k items, 60k users, power-law item popularity) generated once
into ``.bench-cache/ingest/`` (outside git). Each (data set, database) pair is imported into
a fresh, empty database ``--runs`` times ("first import") and once more on top of itself
("re-import": every row an update); the table shows the median (and min/max) wall time of
the whole import (reading + checking + writing + recomputing stats) and rows/s.

    nice .venv/bin/python benchmarks/ingest.py [--runs 3] [--synthetic 1000000] [--only sqlite]
        [--baseline DIR]

``--baseline DIR`` also times the import code of another checkout (e.g. the last commit:
``git worktree add /tmp/base HEAD``) on the same files in the same run: every import then
runs in its own subprocess, baseline and current alternating, and the table gains the
baseline's median and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# the product code under test: this checkout, or a baseline's (set by --baseline's children)
CODE = Path(os.environ.get("RECAGENT_BENCH_CODE") or ROOT)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(CODE))

from tests.conftest import ML_DIR, create_pg_database, drop_pg_database  # noqa: E402
from tools.catalog.db import ensure_schema, make_engine  # noqa: E402
from tools.catalog.ingest import IngestReport, ingest_csv, ingest_movielens  # noqa: E402

CACHE = ROOT / ".bench-cache" / "ingest"
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Western",
          "Documentary", "Animation"]


def synthetic(n_interactions: int, seed: int = 7) -> tuple[Path, Path]:
    """Generate (once) items.csv + interactions.csv with about ``n_interactions`` rows."""
    folder = CACHE / f"synthetic-{n_interactions}"
    items, inter = folder / "items.csv", folder / "interactions.csv"
    if items.exists() and inter.exists():
        return items, inter
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_items, n_users = max(100, n_interactions // 50), max(100, n_interactions // 16)
    with open(items.with_suffix(".tmp"), "w", encoding="utf-8") as f:
        f.write("item_id,title,year,categories,tags,director\n")
        for i in range(n_items):
            cats = "|".join(rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False))
            tags = "|".join(f"tag{t}" for t in rng.integers(0, 2000, size=int(rng.integers(0, 4))))
            f.write(f"i{i},Synthetic Film {i},{1950 + i % 70},{cats},{tags},person{i % 997}\n")
    # power-law item popularity, distinct (user, item) pairs
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.9
    weights /= weights.sum()
    users = rng.integers(0, n_users, size=int(n_interactions * 1.1))
    its = rng.choice(n_items, size=users.size, p=weights)
    pairs = np.unique(users.astype(np.int64) * n_items + its)
    pairs = rng.permutation(pairs)[:n_interactions]
    ratings = rng.integers(1, 11, size=pairs.size) / 2
    stamps = rng.integers(946_684_800, 1_700_000_000, size=pairs.size)
    with open(inter.with_suffix(".tmp"), "w", encoding="utf-8") as f:
        f.write("user_id,item_id,rating,timestamp\n")
        for p, r, t in zip(pairs.tolist(), ratings.tolist(), stamps.tolist(), strict=True):
            f.write(f"u{p // n_items},i{p % n_items},{r},{t}\n")
    items.with_suffix(".tmp").replace(items)
    inter.with_suffix(".tmp").replace(inter)
    return items, inter


class Database:
    """A fresh empty database per run: a SQLite file, or a throw-away PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.workdir, self.url = kind, workdir, ""

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            fd, name = tempfile.mkstemp(suffix=".db", dir=self.workdir)
            os.close(fd)
            os.unlink(name)
            self.url = f"sqlite:///{name}"
        else:
            self.url = create_pg_database()
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self.url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        else:
            drop_pg_database(self.url)


def measure(kind: str, load: Callable[..., IngestReport], runs: int, workdir: Path) -> dict:
    first: list[float] = []
    again: list[float] = []
    cpu: list[float] = []  # this process's CPU seconds of the first import
    cpu_again: list[float] = []
    report = IngestReport()
    for _ in range(runs):
        with Database(kind, workdir) as url:
            engine = make_engine(url)
            ensure_schema(engine)  # schema creation is not part of the import time
            started, cpu_started = time.perf_counter(), time.process_time()
            report = load(engine)
            first.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            started, cpu_started = time.perf_counter(), time.process_time()
            load(engine)
            again.append(time.perf_counter() - started)
            cpu_again.append(time.process_time() - cpu_started)
            engine.dispose()
    return {"report": report, "first": first, "again": again, "cpu": cpu,
            "cpu_again": cpu_again}


def _datasets(n_synthetic: int) -> list[tuple[str, Callable[..., IngestReport]]]:
    datasets: list[tuple[str, Callable[..., IngestReport]]] = [
        ("ml-latest-small", lambda e: ingest_movielens(e, ML_DIR)),
    ]
    if n_synthetic:
        items, inter = synthetic(n_synthetic)
        datasets.append((f"synthetic {n_synthetic:,}", lambda e: ingest_csv(e, items, inter)))
    return datasets


def _child(kind: str, dataset: str, n_synthetic: int) -> None:
    """One first import + one re-import with the code at ``CODE``; one JSON line."""
    load = dict(_datasets(n_synthetic))[dataset]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        res = measure(kind, load, 1, Path(tmp))
    rep: IngestReport = res["report"]
    print(json.dumps({"first": res["first"][0], "again": res["again"][0], "cpu": res["cpu"][0],
                      "cpu_again": res["cpu_again"][0],
                      "items": rep.items, "interactions": rep.interactions, "rows": rep.rows}))


def _with_baseline(kind: str, dataset: str, n_synthetic: int, runs: int,
                   baseline: Path) -> dict:
    """``runs`` subprocess imports with this checkout's code and with ``baseline``'s,
    alternating which goes first."""
    out: dict[str, dict[str, list[float]]] = {
        v: {"first": [], "again": [], "cpu": [], "cpu_again": []}
        for v in ("current", "baseline")}
    last: dict = {}
    for run in range(runs):
        order = ("baseline", "current") if run % 2 == 0 else ("current", "baseline")
        for variant in order:
            env = {**os.environ, "RECAGENT_BENCH_CODE": str(baseline if variant == "baseline"
                                                            else ROOT)}
            cmd = [sys.executable, __file__, "--child", kind, dataset,
                   "--synthetic", str(n_synthetic)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            last = json.loads(done.stdout.strip().splitlines()[-1])
            out[variant]["first"].append(last["first"])
            out[variant]["again"].append(last["again"])
            out[variant]["cpu"].append(last["cpu"])
            out[variant]["cpu_again"].append(last["cpu_again"])
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"  {dataset} {kind} run {run + 1}: first import current "
              f"{out['current']['first'][-1]:.2f}s ({out['current']['cpu'][-1]:.2f}s CPU) "
              f"baseline {out['baseline']['first'][-1]:.2f}s "
              f"({out['baseline']['cpu'][-1]:.2f}s CPU) (load {load})", file=sys.stderr,
              flush=True)
    report = IngestReport(items=last["items"], interactions=last["interactions"],
                          rows=last["rows"])
    return {"report": report, **out["current"], "baseline": out["baseline"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--synthetic", type=int, default=1_000_000,
                        help="interactions in the synthetic file (0: skip)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--datasets", default=None,
                        help="comma-separated: ml, synthetic (default: both)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also time the import code of this checkout, same run")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.synthetic)
        return

    started = time.perf_counter()
    datasets = _datasets(args.synthetic)
    if args.synthetic:
        print(f"synthetic data ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.datasets:
        wanted = {"ml": "ml-latest-small", "synthetic": f"synthetic {args.synthetic:,}"}
        chosen = {wanted[d] for d in args.datasets.split(",")}
        datasets = [d for d in datasets if d[0] in chosen]
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]

    rows = []
    cpu_notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for name, load in datasets:
            for kind in kinds:
                if args.baseline:
                    res = _with_baseline(kind, name, args.synthetic, args.runs,
                                         args.baseline.resolve())
                else:
                    res = measure(kind, load, args.runs, Path(tmp))
                rows += _result_rows(name, kind, res, bool(args.baseline))
                if args.baseline:
                    cpu_notes += _cpu_notes(name, kind, res)
                print(f"done: {name} on {kind}", file=sys.stderr)
    _print_table(rows, cpu_notes, args.runs, bool(args.baseline))


def _result_rows(name: str, kind: str, res: dict[str, Any],
                 with_baseline: bool) -> list[tuple[Any, ...]]:
    """The table rows of one dataset on one database: first import, re-import."""
    rows = []
    rep: IngestReport = res["report"]
    for label, key in (("first import", "first"), ("re-import", "again")):
        times = res[key]
        med = statistics.median(times)
        base = (f"{statistics.median(res['baseline'][key]):.2f}"
                if with_baseline else "")
        ratio = (f"{statistics.median(res['baseline'][key]) / med:.2f}x"
                 if with_baseline else "")
        rows.append((name, kind, label, rep.items, rep.interactions, rep.rows, med,
                     min(times), max(times), rep.rows / med, rep.interactions / med,
                     base, ratio))
    return rows


def _cpu_notes(name: str, kind: str, res: dict[str, Any]) -> list[str]:
    """CPU seconds of the importing process, current against the baseline checkout."""
    return [
        f"{name} on {kind}, {label}, CPU s of the importing process "
        f"(median): current {statistics.median(res[key]):.2f}, baseline "
        f"{statistics.median(res['baseline'][key]):.2f}"
        for label, key in (("first import", "cpu"), ("re-import", "cpu_again"))
    ]


def _print_table(rows: list[tuple[Any, ...]], cpu_notes: list[str], runs: int,
                 with_baseline: bool) -> None:
    head = ["data", "database", "mode", "items", "interactions", "rows", "median s", "min s",
            "max s", "rows/s", "interactions/s"]
    if with_baseline:
        head += ["baseline median s", "speed-up"]
    print(f"runs per cell: {runs} (median; each first import into a fresh empty database)")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    for r in rows:
        extra = f" {r[11]} | {r[12]} |" if with_baseline else ""
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]:,} | {r[5]:,} | {r[6]:.2f} | "
              f"{r[7]:.2f} | {r[8]:.2f} | {r[9]:,.0f} | {r[10]:,.0f} |{extra}")
    for note in cpu_notes:
        print(note)


if __name__ == "__main__":
    main()
