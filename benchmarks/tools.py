"""Latency of every built-in tool, through ``ToolRegistry.invoke`` (the agent's path).

Datasets:
- ``ml``: the bundled ml-latest-small (9,742 items, 100,836 ratings);
- ``synthetic``: 1M items (categories, years, tags, popularity) and 20M interactions at
  ``--scale 1`` (``--scale 0.1`` = 100k items / 2M interactions), generated once into
  ``.bench-cache/`` (seeded), on SQLite and PostgreSQL.

Each tool runs ``--runs`` times on a realistic bus state (see ``scenarios()``): "open"
(nothing restricted yet), "2k" (2,000 candidates) and "broad" (a broad request: the items
of one category, most popular first, at most 100,000 -- ~100k on the 1M catalog); the table
prints p50/p99 in milliseconds::

    nice .venv/bin/python benchmarks/tools.py --dataset ml --db sqlite postgresql
    nice .venv/bin/python benchmarks/tools.py --dataset synthetic --scale 1 --db sqlite postgresql

``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/base HEAD``) measures
that code too: ``--rounds`` rounds, each running this script once on the baseline's code
and once on this tree's (order alternating, one process each, same data), then prints the
medians over the rounds side by side with the ratio::

    nice .venv/bin/python benchmarks/tools.py --dataset synthetic --runs 20 --baseline /tmp/base

Model for the synthetic catalog: ALS (few iterations, it is about serving latency, not
quality) trained from the generated arrays directly, plus the TF-IDF text index.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ``--code DIR``: import the recagent code from DIR (a baseline checkout) instead of ROOT
CODE = Path(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv[:-1] else ROOT
sys.path.insert(0, str(CODE))

from memory.bus import CandidateBus  # noqa: E402
from memory.session import Session  # noqa: E402
from recagent.settings import load_settings  # noqa: E402
from tools.catalog.db import ensure_schema, make_engine  # noqa: E402
from tools.catalog.repository import ItemFilter, SqlCatalog  # noqa: E402
from tools.context import ToolContext  # noqa: E402
from tools.recommenders.bundle import ModelBundle  # noqa: E402
from tools.registry import ToolRegistry, default_registry  # noqa: E402

CACHE = ROOT / ".bench-cache"
PG_ADMIN = os.environ.get("RECAGENT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = {"ml": (5.0, 20.0), "synthetic": (None, 50.0)}  # (p50, p99) ms
BROAD = 100_000  # most candidates of the "broad" scenarios
CATS = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
        "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
        "Thriller", "War", "Western"]
WORDS = ["night", "star", "river", "city", "dark", "love", "last", "first", "blue", "red",
         "king", "queen", "road", "house", "storm", "secret", "game", "heart", "fire", "ghost",
         "summer", "winter", "war", "day", "man", "woman", "girl", "boy", "dream", "time",
         "shadow", "island", "empire", "return", "rise", "fall", "lost", "silent", "golden",
         "iron", "glass", "wild"]


# ---- data -----------------------------------------------------------------------------------


def pg_url(name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(PG_ADMIN).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def db_url(db: str, key: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{CACHE / (key + '.db')}"
    return pg_url(f"recagent_bench_{key}")


def load_ml(url: str) -> None:
    from tools.catalog.ingest import ingest_movielens

    engine = make_engine(url)
    ensure_schema(engine)
    ingest_movielens(engine, ROOT / "recagent" / "data" / "ml-latest-small")
    engine.dispose()


def synth_arrays(n_items: int, n_inter: int, seed: int = 42) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_users = max(100, n_inter // 100)
    # Zipf-like item popularity, users with a log-normal activity
    item_w = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item_w = rng.permutation(item_w)
    item_w /= item_w.sum()
    items = rng.choice(n_items, size=n_inter, p=item_w).astype(np.int64)
    users = rng.integers(0, n_users, size=n_inter, dtype=np.int64)
    key = np.unique(users * n_items + items)
    users, items = key // n_items, key % n_items
    ratings = np.asarray(rng.integers(1, 11, size=users.shape[0]) / 2, dtype=np.float32)
    return {"users": users, "items": items, "ratings": ratings,
            "year": rng.integers(1920, 2025, size=n_items),
            "n_users": np.array([n_users])}


def load_synthetic(url: str, n_items: int, arrays: dict[str, np.ndarray]) -> None:
    """Bulk-load the synthetic catalog (COPY on PostgreSQL, executemany on SQLite)."""
    rng = np.random.default_rng(7)
    engine = make_engine(url)
    ensure_schema(engine)
    users, items, ratings = arrays["users"], arrays["items"], arrays["ratings"]
    count = np.bincount(items, minlength=n_items)
    sums = np.bincount(items, weights=ratings, minlength=n_items)
    avg = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
    words = np.array(WORDS)
    w = rng.integers(0, len(WORDS), size=(n_items, 3))
    n_tags = 2000
    item_rows = []
    for k in range(n_items):
        title = f"{words[w[k, 0]].title()} {words[w[k, 1]].title()} {words[w[k, 2]]} {k}"
        item_rows.append((f"i{k}", title, title.lower(), int(arrays["year"][k]),
                          f"A {words[w[k, 1]]} story about {words[w[k, 2]]}.",
                          float(count[k]), None if np.isnan(avg[k]) else float(avg[k]),
                          int(count[k]), "{}"))
    n_cat = rng.integers(1, 4, size=n_items)
    cat_links = [(f"i{k}", int(c) + 1) for k in range(n_items)
                 for c in rng.choice(len(CATS), size=n_cat[k], replace=False)]
    tag_links = [(f"i{k}", int(t) + 1, int(c)) for k in range(n_items)
                 for t, c in zip(rng.integers(0, n_tags, size=2), rng.integers(1, 20, size=2),
                                 strict=True)]
    tag_links = list({(a, b): (a, b, c) for a, b, c in tag_links}.values())
    inter = zip((f"u{u}" for u in users.tolist()), (f"i{i}" for i in items.tolist()),
                ratings.tolist(), strict=True)
    tables: list[tuple[str, list[str], Any]] = [
        ("categories", ["id", "name"], [(k + 1, c) for k, c in enumerate(CATS)]),
        ("tags", ["id", "name"], [(k + 1, f"tag{k}") for k in range(n_tags)]),
        ("items", ["item_id", "title", "title_norm", "year", "description", "popularity",
                   "rating_avg", "rating_count", "attributes"], item_rows),
        ("item_categories", ["item_id", "category_id"], cat_links),
        ("item_tags", ["item_id", "tag_id", "count"], tag_links),
        ("interactions", ["user_id", "item_id", "rating"], inter),
    ]
    with engine.begin() as conn:
        for table, cols, rows in tables:
            if engine.dialect.name == "postgresql":
                cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in cols)
                sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
                batch: list[Any] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 100_000:
                        conn.exec_driver_sql(sql, batch)
                        batch = []
                if batch:
                    conn.exec_driver_sql(sql, batch)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval('categories_id_seq', 100)")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def synth_models(key: str, n_items: int, arrays: dict[str, np.ndarray], url: str) -> Path:
    """ALS fitted on the generated arrays + the text index built from ``url``."""
    from tools.recommenders.als import ALSRecommender
    from tools.recommenders.data import InteractionLog
    from tools.recommenders.text import TextIndex

    out = CACHE / f"{key}-models"
    if (out / "als").exists() and (out / "text").exists():
        return out
    log = InteractionLog.from_arrays(np.char.add("u", arrays["users"].astype(str)),
                                     np.char.add("i", arrays["items"].astype(str)),
                                     arrays["ratings"])
    model = ALSRecommender(iterations=3, factors=64)
    model.fit(log.to_data())
    model.save(out / "als")
    TextIndex.build(make_engine(url)).save(out / "text")
    return out


def bundle_from(path: Path) -> ModelBundle:
    from tools.recommenders.als import ALSRecommender
    from tools.recommenders.text import TextIndex

    als: Any = ALSRecommender.load(path / "als")
    return ModelBundle(models={"als": als},
                       text=TextIndex.load(path / "text"), path=path)


# ---- scenarios ---------------------------------------------------------------------------------


def scenarios(catalog: SqlCatalog, bundle: ModelBundle, synthetic: bool
              ) -> dict[str, tuple[Callable[[ToolContext], None], dict[str, Any]]]:
    """tool -> (prepare the bus, arguments). Realistic mid-plan states."""
    cols = catalog.columns
    top = [str(i) for i in cols.ids[cols.pop_order[:3]]]
    titles = [cols.titles[k] for k in cols.pop_order[:2].tolist()]
    typo = titles[0][:-2] + titles[0][-1:] if len(titles[0]) > 4 else titles[0]
    narrowed = [str(i) for i in cols.ids[cols.pop_order[: min(2000, len(cols.ids))]]]
    # a broad request ("comedies"): one category's items, most popular first, <= 100k
    broad = catalog.filter_ids(ItemFilter(categories_any=["Comedy"]))[:BROAD]
    user = None
    als = bundle.get("als") if "als" in bundle.models else bundle.default
    user = str(als.user_ids[0]) if len(als.user_ids) else None  # type: ignore[attr-defined]

    def open_bus(ctx: ToolContext) -> None:
        ctx.bus = CandidateBus()

    def narrowed_bus(ctx: ToolContext) -> None:
        ctx.bus = CandidateBus()
        ctx.bus.set("bench", narrowed)
        ctx.bus.mentioned = top[:1]

    def broad_bus(ctx: ToolContext) -> None:
        ctx.bus = CandidateBus()
        ctx.bus.set("bench", broad)
        ctx.bus.mentioned = top[:1]
        ctx.session.shown = broad[100:110]  # an earlier list: hidden from the results

    def broad_user(ctx: ToolContext) -> None:
        broad_bus(ctx)
        ctx.user_id = user

    def mentioned(ctx: ToolContext) -> None:
        ctx.bus = CandidateBus()
        ctx.bus.mentioned = top[:1]

    def known_user(ctx: ToolContext) -> None:
        narrowed_bus(ctx)
        ctx.user_id = user

    def cold(ctx: ToolContext) -> None:
        open_bus(ctx)
        catalog._views.clear()  # measure the database read, not the per-process view cache

    cat = "Comedy"
    b = f"broad {len(broad) // 1000}k" if len(broad) >= 1000 else f"broad {len(broad)}"
    return {
        "lookup_items": (open_bus, {"names": [titles[0], typo, "Quantum Banana Chronicles"]}),
        "item_info": (open_bus, {"item_ids": top}),
        "item_info (uncached)": (cold, {"item_ids": top}),
        "filter_items (open)": (open_bus, {"categories_any": [cat], "year_min": 1990,
                                           "year_max": 1999, "min_rating": 3.0}),
        "filter_items (2k)": (narrowed_bus, {"categories_none": ["Horror"],
                                             "min_rating_count": 5}),
        "search_text (open)": (open_bus, {"query": "dark love story" if synthetic
                                          else "dark psychological thriller"}),
        "search_text (2k)": (narrowed_bus, {"query": "funny heist"}),
        "similar_items (open)": (mentioned, {"limit": 100}),
        "similar_items (2k)": (narrowed_bus, {"limit": 100}),
        "rank_for_user (2k, likes)": (narrowed_bus, {}),
        "rank_for_user (2k, user)": (known_user, {}),
        "rank_by_popularity (open)": (open_bus, {"by": "rating"}),
        "rank_by_popularity (2k)": (narrowed_bus, {}),
        "explain": (known_user, {"item_ids": narrowed[5:8]}),
        "update_profile": (open_bus, {"like": top[:1], "avoid_categories": ["Horror"]}),
        f"filter_items ({b})": (broad_bus, {"year_min": 1990, "min_rating": 2.5}),
        f"search_text ({b})": (broad_bus, {"query": "dark love story" if synthetic
                                           else "dark psychological thriller"}),
        f"similar_items ({b})": (broad_bus, {"limit": 100}),
        f"rank_for_user ({b}, likes)": (broad_bus, {"limit": 100}),
        f"rank_for_user ({b}, user)": (broad_user, {"limit": 100}),
        f"rank_by_popularity ({b})": (broad_bus, {"by": "rating", "limit": 100}),
        f"update_profile ({b})": (broad_bus, {"dislike": broad[3:5]}),
    }


def measure(registry: ToolRegistry, catalog: SqlCatalog, bundle: ModelBundle, synthetic: bool,
            runs: int) -> list[tuple[str, float, float]]:
    settings = load_settings(plugins="")
    rows = []
    for label, (prepare, args) in scenarios(catalog, bundle, synthetic).items():
        name = label.split(" ")[0]
        times = []
        for _ in range(runs + 2):  # two warm-up calls
            ctx = ToolContext(catalog=catalog, models=bundle, session=Session(),
                              settings=settings)
            ctx.session.shown = []
            prepare(ctx)
            start = time.perf_counter()
            registry.invoke(name, args, ctx)
            times.append((time.perf_counter() - start) * 1000)
        t = np.array(times[2:])
        rows.append((label, float(np.percentile(t, 50)), float(np.percentile(t, 99))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=["ml", "synthetic"], default="ml")
    ap.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"])
    ap.add_argument("--scale", type=float, default=1.0, help="synthetic: 1 = 1M items / 20M")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for the whole process (a server pins 1 per worker)")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="import recagent from this checkout (set by --baseline)")
    ap.add_argument("--baseline", type=Path,
                    help="another checkout: measure its code too, in alternating processes")
    ap.add_argument("--rounds", type=int, default=3, help="with --baseline: rounds of both")
    args = ap.parse_args(argv)
    if args.baseline is not None:
        return compare(args, argv if argv is not None else sys.argv[1:])
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.blas_threads, "blas")
    CACHE.mkdir(exist_ok=True)
    registry = default_registry(load_settings(plugins=""))
    results: dict[str, Any] = {}
    if args.dataset == "synthetic":
        n_items, n_inter = int(1_000_000 * args.scale), int(20_000_000 * args.scale)
        key = f"synth{n_items}"
        arrays = None
    for db in args.db:
        t0 = time.perf_counter()
        if args.dataset == "ml":
            engine, bundle = _ml_workspace(db)
        else:
            url = db_url(db, key)
            engine = make_engine(url)
            ensure_schema(engine)
            with engine.connect() as conn:
                have = conn.exec_driver_sql("SELECT count(*) FROM items").scalar()
            if not have or arrays is None and not (CACHE / f"{key}-models" / "als").exists():
                arrays = synth_arrays(n_items, n_inter)
            if not have:
                assert arrays is not None
                print(f"loading {n_items} items / {len(arrays['users'])} interactions "
                      f"into {db} ...", file=sys.stderr, flush=True)
                load_synthetic(url, n_items, arrays)
            if arrays is not None:
                synth_models(key, n_items, arrays, url)
            bundle = bundle_from(CACHE / f"{key}-models")
        catalog = SqlCatalog(engine)
        start = time.perf_counter()
        catalog.warm()
        warm = time.perf_counter() - start
        print(f"[{args.dataset}/{db}] ready in {time.perf_counter() - t0:.1f}s "
              f"(catalog cache {warm:.2f}s, {len(catalog)} items)", file=sys.stderr, flush=True)
        rows = measure(registry, catalog, bundle, args.dataset == "synthetic", args.runs)
        results[db] = rows
        engine.dispose()
    print(_table(results, args.dataset, args.scale, args.runs))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _ml_workspace(db: str) -> tuple[Any, Any]:
    """The MovieLens catalog on ``db`` (imported once) and its models (trained once)."""
    url = db_url(db, "ml")
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.connect() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM items").scalar()
    if not have:
        load_ml(url)
    model_dir = CACHE / "ml-models"
    if not model_dir.exists():
        from tools.recommenders.training import train

        train(engine, model_dir, evaluate=False)
    from tools.recommenders.artifacts import load_bundle

    return engine, load_bundle(model_dir)


def _table(results: dict[str, Any], dataset: str, scale: float, runs: int) -> str:
    """The results as a markdown table, p50/p99 per tool and database (✗: over target)."""
    p50_target, p99_target = TARGETS[dataset]
    out = io.StringIO()
    out.write(f"dataset={dataset} scale={scale if dataset != 'ml' else 1} "
              f"runs={runs}  targets: p50<={p50_target} ms, p99<={p99_target} ms\n\n")
    out.write("| tool (bus) | " + " | ".join(f"{db} p50 | {db} p99" for db in results) + " |\n")
    out.write("|---|" + "---:|---:|" * len(results) + "\n")
    labels = [r[0] for r in next(iter(results.values()))]
    for k, label in enumerate(labels):
        cells = []
        for db in results:
            _l, p50, p99 = results[db][k]
            miss50 = p50_target is not None and p50 > p50_target
            cells.append(f"{p50:.2f}{' ✗' if miss50 else ''}")
            cells.append(f"{p99:.2f}{' ✗' if p99 > p99_target else ''}")
        out.write(f"| {label} | " + " | ".join(cells) + " |\n")
    return out.getvalue()


def _without(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and its value."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == option:
            skip = True
        elif not a.startswith(option + "="):
            out.append(a)
    return out


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    """Run this script on the baseline's code and on this tree's, ``--rounds`` times,
    alternating; print the medians side by side."""
    import statistics
    import subprocess
    import tempfile

    base = args.baseline.resolve()
    if not (base / "tools" / "registry.py").exists():
        raise SystemExit(f"--baseline {base}: not a recagent checkout")
    rest = argv
    for option in ("--baseline", "--rounds", "--json", "--code"):
        rest = _without(rest, option)
    results: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = [("base", base), ("new", ROOT)]
            for name, code in (order if r % 2 == 0 else order[::-1]):
                out = Path(tmp) / f"{name}-{r}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), *rest, "--code",
                       str(code), "--json", str(out)]
                print(f"round {r + 1}/{args.rounds}: {name} ({code})", file=sys.stderr,
                      flush=True)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(code)})
                results[name].append(json.loads(out.read_text()))
    _p50_target, p99_target = TARGETS[args.dataset]
    lines = [f"dataset={args.dataset} scale={args.scale if args.dataset != 'ml' else 1} "
             f"runs={args.runs} rounds={args.rounds} (medians over the rounds of each "
             f"round's p50/p99); target: p99<={p99_target} ms", ""]
    for db in results["new"][0]:
        lines.append(f"| tool (bus) [{db}] | base p50 | base p99 | new p50 | new p99 | "
                     "p99 new/base |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for label, *_ in results["new"][0][db]:
            cells = []
            for name in ("base", "new"):
                got = [row for res in results[name] for row in res[db] if row[0] == label]
                cells += [statistics.median(g[1] for g in got) if got else float("nan"),
                          statistics.median(g[2] for g in got) if got else float("nan")]
            b50, b99, n50, n99 = cells
            miss = " ✗" if n99 > p99_target else ""
            lines.append(f"| {label} | {b50:.2f} | {b99:.2f} | {n50:.2f} | {n99:.2f}{miss} | "
                         f"x{n99 / b99:.2f} |")
        lines.append("")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
