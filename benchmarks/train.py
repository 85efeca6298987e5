"""Training time and peak memory of ALS, BPR and item-kNN (and popularity).

Data sets:
- ``ml``: the bundled ml-latest-small ratings (610 users x 9,724 items, 100,836 ratings);
- ``synthetic``: 150k users x 50k items, 20M interactions at ``--scale 1`` (users, items and
  interactions all multiplied by ``--scale``), power-law item popularity (Zipf, exponent
  0.9) and log-normal user activity, generated once with numpy and cached in
  ``.bench-cache/train/`` (outside git).

Every (data set, model) fit runs in its own subprocess so its peak resident memory
(``VmHWM``, reset after loading the data via ``/proc/self/clear_refs``) is its own: the table
shows the fit wall time (median over ``--runs``), the peak RSS during the fit and how much it
grew over the RSS right after loading the matrix (what fitting added). Models run with their
default parameters (the ones ``recagent train`` uses); ``--threads N`` overrides
``num_threads`` for every model.

    nice .venv/bin/python benchmarks/train.py [--datasets ml,synthetic] [--scale 0.05]
        [--models als,bpr,itemknn,popularity] [--runs 3] [--threads N] [--spark local[2]]
        [--spark-conf spark.driver.memory=8g]

``--pipeline N`` measures instead what issue 14 asks of ``recagent train``: on a SQLite
catalog of ~N synthetic interactions (benchmarks/ingest.py's generator, imported once into
``.bench-cache/train/``), each run is one subprocess that times ``recagent train --models M``
(the CLI's default path: settings, SQL load, fits, saves, text index, publish) and implicit's
own fits of the same models with the same parameters on the same matrix, alternating which
goes first; the table shows both medians, the median ratio and the train steps:

    nice -n 10 .venv/bin/python benchmarks/train.py --pipeline 1000000 --runs 3

``--spark MASTER`` adds the Spark column (``recagent train --engine spark``, needs the
``spark`` extra and Java): for ``ml``, the project's leave-last-out evaluation with ALS fitted
locally and on Spark on the same split (fit s + HR@10 / NDCG@10), and the end-to-end wall time
of ``train_spark`` from the ratings CSV (Spark start, read, prepare, fit, collect, write); for
``synthetic``, the local ALS and then the Spark fit on the same matrix (no timestamps: no HR),
with wall and CPU seconds per stage logged to stderr as each ends and a progress line every
minute (so a run cut short still tells how far it got). ``--models none`` skips the other
models: ``--datasets synthetic --scale 1 --spark local[2] --models none`` is the 20M Spark
column alone. On one machine
Spark only adds overhead (JVM, shuffles, serialisation); its advantage appears only when the
fit is spread over more machines than one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.recommenders.base import InteractionData  # noqa: E402

CACHE = ROOT / ".bench-cache" / "train"
ML_RATINGS = ROOT / "recagent" / "data" / "ml-latest-small" / "ratings.csv"
FULL = (150_000, 50_000, 20_000_000)  # users, items, interactions at scale 1


def synthetic_matrix(scale: float, seed: int = 7) -> Path:
    """Generate (once) and cache the synthetic log as a CSR .npz; returns its path."""
    users, items, total = (max(10, int(round(v * scale))) for v in FULL)
    path = CACHE / f"synthetic-{users}x{items}x{total}.npz"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity /= popularity.sum()
    item_perm = rng.permutation(items)  # popular items are not simply the low ids
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=users)
    activity /= activity.sum()
    # draw ~15% extra pairs: duplicates (same user, same item) are dropped below
    draws = int(total * 1.15)
    u = rng.choice(users, size=draws, p=activity).astype(np.int64)
    i = item_perm[rng.choice(items, size=draws, p=popularity)].astype(np.int64)
    key = np.sort(rng.permutation(np.unique(u * items + i))[:total])
    rows, cols = key // items, key % items
    ratings = rng.integers(1, 11, size=key.shape[0]).astype(np.float32) / 2.0  # 0.5..5 stars
    matrix = sp.csr_matrix((1.0 + ratings / 5.0, (rows, cols)), shape=(users, items),
                           dtype=np.float32)
    matrix.sort_indices()
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
             shape=np.asarray(matrix.shape))
    tmp.rename(path)
    return path


def load_dataset(name: str, scale: float) -> InteractionData:
    if name == "ml":
        from tools.recommenders.data import InteractionLog

        a = np.loadtxt(ML_RATINGS, delimiter=",", skiprows=1)
        log = InteractionLog.from_arrays(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64),
                                         a[:, 2], a[:, 3].astype(np.int64))
        return log.to_data(fingerprint="ml")
    path = synthetic_matrix(scale)
    with np.load(path, allow_pickle=False) as z:
        shape = tuple(int(v) for v in z["shape"])
        matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
    return InteractionData(
        matrix=matrix,
        user_ids=np.char.add("u", np.arange(shape[0]).astype(str)),
        item_ids=np.char.add("i", np.arange(shape[1]).astype(str)),
        fingerprint=path.stem,
    )


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    status = _proc_status()
    if "VmHWM" in status:
        return status["VmHWM"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def reset_peak() -> float:
    """Reset the peak-RSS counter to the current RSS (Linux >= 4.0); returns current MB."""
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _proc_status().get("VmRSS", rss_mb())


def _proc_status() -> dict[str, float]:
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = float(value.split()[0]) / 1024.0
    return out


def child(model_name: str, dataset: str, scale: float, threads: int | None) -> None:
    """Runs in the subprocess: load, fit once, print one JSON line."""
    from tools.recommenders.training import make_model, registry

    data = load_dataset(dataset, scale)
    base = reset_peak()
    params = {}
    if threads is not None and "num_threads" in registry[model_name].defaults:
        params["num_threads"] = threads
    model = make_model(model_name, seed=42, **params)
    start = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - start
    peak = rss_mb()
    print(json.dumps({"fit_s": fit_s, "peak_mb": peak, "base_mb": base,
                      "users": data.matrix.shape[0], "items": data.matrix.shape[1],
                      "nnz": int(data.matrix.nnz)}))


def run_child(model: str, dataset: str, scale: float, threads: int | None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", model, "--datasets", dataset,
           "--scale", str(scale)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="ml,synthetic")
    parser.add_argument("--models", default="als,bpr,itemknn,popularity")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="synthetic size relative to 150k x 50k x 20M")
    parser.add_argument("--runs", type=int, default=3, help="fits per (data set, model)")
    parser.add_argument("--synthetic-runs", type=int, default=None,
                        help="fits per model on the synthetic set (default: --runs)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--spark", default=None, metavar="MASTER",
                        help="also fit ALS on Spark at this master (e.g. local[2]) and "
                             "print the Spark comparison table")
    parser.add_argument("--spark-conf", action="append", default=None, metavar="KEY=VALUE",
                        help="extra Spark configuration for --spark (repeatable), e.g. "
                             "spark.driver.memory=6g (20M needs more than the 1g default)")
    parser.add_argument("--pipeline", type=int, default=None, metavar="N",
                        help="instead: `recagent train` against the raw implicit fits of the "
                             "same models on a synthetic SQLite catalog of ~N interactions")
    parser.add_argument("--pipeline-sets", default="default,als",
                        help="model sets for --pipeline (default: the four models; als)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pipeline-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pipeline-db", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pipeline-order", default="train", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.datasets, args.scale, args.threads)
        return
    if args.pipeline_child:
        pipeline_child(args.pipeline_db, args.pipeline_child, args.pipeline_order == "train")
        return
    if args.pipeline:
        pipeline_table(args.pipeline, args.runs, args.pipeline_sets.split(","))
        return
    if args.spark:
        conf = dict(item.split("=", 1) for item in args.spark_conf or [])
        spark_table(args.datasets.split(","), args.scale, args.spark, args.runs, conf)
        if args.models == "none":
            return

    rows = []
    for dataset in args.datasets.split(","):
        if dataset == "synthetic":
            start = time.perf_counter()
            path = synthetic_matrix(args.scale)
            print(f"synthetic data: {path.name} ({time.perf_counter() - start:.1f}s)",
                  file=sys.stderr)
        runs = args.runs if dataset == "ml" else (args.synthetic_runs or args.runs)
        for model in args.models.split(","):
            results = [run_child(model, dataset, args.scale, args.threads) for _ in range(runs)]
            fits = sorted(r["fit_s"] for r in results)
            first = results[0]
            rows.append({
                "dataset": dataset, "model": model,
                "shape": f"{first['users']:,} x {first['items']:,}, {first['nnz']:,} nnz",
                "fit_median": statistics.median(fits), "fit_min": fits[0], "fit_max": fits[-1],
                "peak_mb": max(r["peak_mb"] for r in results),
                "grow_mb": max(r["peak_mb"] - r["base_mb"] for r in results),
                "runs": runs,
            })
            r = rows[-1]
            print(f"  {dataset} {model}: {r['fit_median']:.2f}s", file=sys.stderr, flush=True)

    print("| data set | model | fit s (median) | min-max s | runs | peak RSS during fit MB "
          "| added by fit MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} ({r['shape']}) | {r['model']} | {r['fit_median']:.2f} "
              f"| {r['fit_min']:.2f}-{r['fit_max']:.2f} | {r['runs']} | {r['peak_mb']:.0f} "
              f"| {r['grow_mb']:.0f} |")


def spark_table(datasets: list[str], scale: float, master: str, runs: int,
                conf: dict[str, str] | None = None) -> None:
    """Local ALS next to ALS on Spark: fit time, and HR@10 / NDCG@10 where there are
    timestamps (the leave-last-out evaluation of ``recagent evaluate``)."""
    import tempfile

    from tools.recommenders import spark_training
    from tools.recommenders.data import InteractionLog

    lines = ["| data set | engine | fit s (train split) | end-to-end train s | hr@10 | ndcg@10 |",
             "|---|---|---:|---:|---:|---:|"]
    for dataset in datasets:
        if dataset == "ml":
            a = np.loadtxt(ML_RATINGS, delimiter=",", skiprows=1)
            log = InteractionLog.from_arrays(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64),
                                             a[:, 2], a[:, 3].astype(np.int64))
            results = [spark_training.evaluate_spark(log, master=master, local_models=["als"],
                                                     conf=conf)
                       for _ in range(runs)]
            walls = []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    spark_training.train_spark(Path(tmp), interactions=[ML_RATINGS],
                                               master=master, evaluate=False, conf=conf)
                    walls.append(time.perf_counter() - start)
            for name, label in (("als", "local ALS (implicit)"),
                                ("als-spark", f"Spark MLlib ALS ({master})")):
                fits = [r["models"][name]["fit_s"] for r in results]
                m = results[0]["models"][name]
                wall = f"{statistics.median(walls):.1f}" if name == "als-spark" else "-"
                lines.append(f"| ml ({len(log):,} ratings) | {label} | "
                             f"{statistics.median(fits):.2f} | {wall} | {m['hr@10']:.4f} | "
                             f"{m['ndcg@10']:.4f} |")
        else:
            lines += _spark_synthetic_rows(dataset, scale, master, conf or {})
        print(f"  spark comparison on {dataset} done", file=sys.stderr, flush=True)
    print("\n".join(lines))


def _spark_synthetic_rows(dataset: str, scale: float, master: str,
                          conf: dict[str, str]) -> list[str]:
    """Local ALS, then the same fit on Spark, on the synthetic matrix: wall and CPU seconds
    per stage, printed to stderr as each stage ends (a run cut short still tells how far it
    got), with a progress line every minute during the Spark stages (load average, the
    JVM's CPU seconds, Spark jobs/stages done, the active stages)."""
    import os
    import threading

    from tools.recommenders import spark_training
    from tools.recommenders.training import make_model

    def say(message: str) -> None:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"[{time.strftime('%H:%M:%S')}] {message} (load {load})", file=sys.stderr,
              flush=True)

    start = time.perf_counter()
    data = load_dataset(dataset, scale)
    shape = f"{data.matrix.shape[0]:,} x {data.matrix.shape[1]:,}, {data.matrix.nnz:,} nnz"
    say(f"loaded {dataset} ({shape}) in {time.perf_counter() - start:.1f}s")
    wall, cpu = time.perf_counter(), time.process_time()
    make_model("als", seed=42).fit(data)
    local_s, local_cpu = time.perf_counter() - wall, time.process_time() - cpu
    say(f"local ALS (implicit) fit: {local_s:.2f}s wall, {local_cpu:.1f}s CPU")

    stages: dict[str, float] = {}
    jvm_cpu: dict[str, float] = {}
    with spark_training.spark_session(master, conf) as spark:
        sc = spark.sparkContext
        jvm_pid = int(sc._jvm.java.lang.ProcessHandle.current().pid())
        stop = threading.Event()

        def jvm_cpu_s() -> float:
            fields = Path(f"/proc/{jvm_pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        def monitor() -> None:
            t0 = time.perf_counter()
            while not stop.wait(60):
                tracker = sc.statusTracker()
                active = []
                for sid in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(sid)
                    if info is not None:
                        active.append(f"{sid}:{info.name} {info.numCompletedTasks}/"
                                      f"{info.numTasks}")
                jobs = tracker.getJobIdsForGroup()
                with contextlib.suppress(OSError, ValueError):
                    say(f"  spark running {time.perf_counter() - t0:.0f}s, JVM CPU "
                        f"{jvm_cpu_s():.0f}s, jobs started {len(jobs)}, active stages "
                        f"[{'; '.join(active)}]")

        thread = threading.Thread(target=monitor, daemon=True)
        thread.start()
        try:
            wall, cpu, jcpu = time.perf_counter(), time.process_time(), jvm_cpu_s()
            prepared = spark_training.from_matrix(spark, data)
            prepared.frame.count()
            stages["to_spark"] = time.perf_counter() - wall
            jvm_cpu["to_spark"] = jvm_cpu_s() - jcpu
            say(f"Spark: matrix handed to Spark and cached in {stages['to_spark']:.1f}s "
                f"(JVM CPU {jvm_cpu['to_spark']:.0f}s)")
            wall, jcpu = time.perf_counter(), jvm_cpu_s()
            spark_training.fit_als(prepared, {})
            stages["fit"] = time.perf_counter() - wall
            jvm_cpu["fit"] = jvm_cpu_s() - jcpu
            driver_cpu = time.process_time() - cpu
            say(f"Spark: MLlib ALS fit (weigh + fit + factors to the driver) in "
                f"{stages['fit']:.1f}s (JVM CPU {jvm_cpu['fit']:.0f}s, Python driver CPU "
                f"{driver_cpu:.0f}s)")
        finally:
            stop.set()
    spark_s = stages["fit"]
    return [
        f"| {dataset} ({shape}) | local ALS (implicit) | {local_s:.2f} | - | - | - |",
        f"| {dataset} ({shape}) | Spark MLlib ALS ({master}) | {spark_s:.2f} | - | - | - |",
        f"\n{dataset}: local ALS {local_s:.1f}s wall / {local_cpu:.0f}s CPU; Spark "
        f"to_spark {stages['to_spark']:.1f}s + fit {spark_s:.1f}s wall, JVM CPU "
        f"{sum(jvm_cpu.values()):.0f}s; Spark/local fit ratio {spark_s / local_s:.1f}x",
    ]


# ---- `recagent train` against the raw implicit fits (issue 14) -----------------------------

PIPELINE_SETS = {"default": "als,bpr,itemknn,popularity", "als": "als"}


def pipeline_catalog(interactions: int) -> Path:
    """(Once) a SQLite catalog holding benchmarks/ingest.py's synthetic CSV pair of about
    ``interactions`` rows (n/16 users, n/50 items, power-law popularity, timestamps)."""
    path = CACHE / f"catalog-{interactions}.db"
    if path.exists():
        return path
    from benchmarks.ingest import synthetic
    from tools.catalog.db import ensure_schema, make_engine
    from tools.catalog.ingest import ingest_csv

    CACHE.mkdir(parents=True, exist_ok=True)
    items, inter = synthetic(interactions)
    tmp = path.with_suffix(".tmp.db")
    tmp.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{tmp}")
    ensure_schema(engine)
    ingest_csv(engine, items, inter)
    engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    tmp.rename(path)
    return path


def raw_fits(data: InteractionData, names: list[str]) -> float:
    """Seconds for implicit's own fits of ``names`` on ``data.matrix`` with the parameters
    recagent uses (ALS, BPR, cosine item-kNN; popularity is a bincount)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits

    from tools.recommenders.training import registry

    matrix = sp.csr_matrix(data.matrix, dtype=np.float32)
    total = 0.0
    with threadpool_limits(1, "blas"):
        for name in names:
            p = registry[name].defaults
            start = time.perf_counter()
            if name == "als":
                AlternatingLeastSquares(
                    factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
                    iterations=p["iterations"], random_state=p["random_state"],
                    num_threads=p["num_threads"], calculate_training_loss=False,
                ).fit(matrix, show_progress=False)
            elif name == "bpr":
                BayesianPersonalizedRanking(
                    factors=p["factors"], learning_rate=p["learning_rate"],
                    regularization=p["regularization"], iterations=p["iterations"],
                    num_threads=p["num_threads"], random_state=p["random_state"],
                    verify_negative_samples=True,
                ).fit(matrix, show_progress=False)
            elif name == "itemknn":
                CosineRecommender(K=p["K"], num_threads=p["num_threads"]).fit(
                    matrix, show_progress=False)
            else:
                np.bincount(matrix.indices, minlength=matrix.shape[1])
            total += time.perf_counter() - start
    return total


def pipeline_child(db: str, models: str, train_first: bool) -> None:
    """Runs in a subprocess: ``recagent train --models M`` (the CLI's default path, in this
    process) and the raw implicit fits on the matrix it trained on, in the given order;
    prints one JSON line."""
    import os
    import tempfile

    from recagent.cli import main as cli
    from tools.catalog.db import make_engine
    from tools.recommenders.artifacts import latest_artifact, read_meta
    from tools.recommenders.data import load_interactions

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        os.environ["RECAGENT_DATABASE_URL"] = f"sqlite:///{db}"
        os.environ["RECAGENT_MODEL_DIR"] = tmp
        engine = make_engine(f"sqlite:///{db}")
        data = load_interactions(engine)
        engine.dispose()
        names = models.split(",")
        for step in (("train", "raw") if train_first else ("raw", "train")):
            if step == "raw":
                out["raw_s"] = raw_fits(data, names)
                continue
            start = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):
                code = cli(["train", "--models", models, "--quiet"])
            out["train_s"] = time.perf_counter() - start
            if code != 0:
                raise SystemExit(f"recagent train exited with {code}")
            path = latest_artifact(Path(tmp))
            assert path is not None
            out["timings"] = read_meta(path)["timings"]
    out.update(users=data.matrix.shape[0], items=data.matrix.shape[1],
               nnz=int(data.matrix.nnz))
    print(json.dumps(out))


def pipeline_table(interactions: int, runs: int, sets: list[str]) -> None:
    """Median wall time of ``recagent train`` and of the raw implicit fits of the same models
    on the same matrix, measured in the same subprocess per run (alternating which goes
    first), and the ratio."""
    import os

    start = time.perf_counter()
    db = pipeline_catalog(interactions)
    print(f"catalog: {db.name} ({time.perf_counter() - start:.1f}s)", file=sys.stderr)
    rows = []
    for label in sets:
        models = PIPELINE_SETS.get(label, label)
        results = []
        for run in range(runs):
            cmd = [sys.executable, __file__, "--pipeline-child", models, "--pipeline-db",
                   str(db), "--pipeline-order", "train" if run % 2 == 0 else "raw"]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            load = " ".join(f"{v:.2f}" for v in os.getloadavg())
            print(f"  {models} run {run + 1}: train {r['train_s']:.2f}s raw {r['raw_s']:.2f}s "
                  f"ratio {r['train_s'] / r['raw_s']:.2f} (load {load})", file=sys.stderr,
                  flush=True)
        ratios = [r["train_s"] / r["raw_s"] for r in results]
        steps: dict[str, list[float]] = {}
        for r in results:
            for key, value in r["timings"].items():
                steps.setdefault(key.removesuffix("_s"), []).append(value)
        first = results[0]
        rows.append((f"{first['users']:,} x {first['items']:,}, {first['nnz']:,} nnz", models,
                     statistics.median(r["train_s"] for r in results),
                     statistics.median(r["raw_s"] for r in results),
                     statistics.median(ratios), min(ratios), max(ratios), runs,
                     ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in steps.items())))
    print("| data | models | `recagent train` s | raw implicit fits s | ratio (median) "
          "| ratio min-max | runs | train steps (median s) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f}-{r[6]:.2f} "
              f"| {r[7]} | {r[8]} |")


if __name__ == "__main__":
    main()
