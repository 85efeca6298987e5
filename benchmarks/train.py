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

``--spark MASTER`` adds the Spark column (``recagent train --engine spark``, needs the
``spark`` extra and Java): for ``ml``, the project's leave-last-out evaluation with ALS fitted
locally and on Spark on the same split (fit s + HR@10 / NDCG@10), and the end-to-end wall time
of ``train_spark`` from the ratings CSV (Spark start, read, prepare, fit, collect, write); for
``synthetic``, the Spark fit time on the same matrix (no timestamps: no HR). On one machine
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
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.datasets, args.scale, args.threads)
        return
    if args.spark:
        spark_table(args.datasets.split(","), args.scale, args.spark, args.runs)
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


def spark_table(datasets: list[str], scale: float, master: str, runs: int) -> None:
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
            results = [spark_training.evaluate_spark(log, master=master, local_models=["als"])
                       for _ in range(runs)]
            walls = []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    spark_training.train_spark(Path(tmp), interactions=[ML_RATINGS],
                                               master=master, evaluate=False)
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
            data = load_dataset(dataset, scale)
            from tools.recommenders.training import make_model

            start = time.perf_counter()
            make_model("als", seed=42).fit(data)
            local_s = time.perf_counter() - start
            with spark_training.spark_session(master) as spark:
                prepared = spark_training.from_matrix(spark, data)
                prepared.frame.count()
                start = time.perf_counter()
                spark_training.fit_als(prepared, {})
                spark_s = time.perf_counter() - start
            shape = f"{data.matrix.shape[0]:,} x {data.matrix.shape[1]:,}, {data.matrix.nnz:,} nnz"
            lines.append(f"| {dataset} ({shape}) | local ALS (implicit) | {local_s:.2f} | - "
                         "| - | - |")
            lines.append(f"| {dataset} ({shape}) | Spark MLlib ALS ({master}) | {spark_s:.2f} "
                         "| - | - | - |")
        print(f"  spark comparison on {dataset} done", file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
