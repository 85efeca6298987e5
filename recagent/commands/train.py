"""``recagent train``: fit the CF models on the catalog's interactions into a new artifact."""

from __future__ import annotations

import argparse
import time
from typing import Any

from recagent.commands._model_args import add_model_arguments, models_and_seed
from recagent.commands.errors import CliError
from recagent.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train the recommender models (new versioned artifact)")
    add_model_arguments(p)
    p.add_argument("--eval-users", type=_eval_users, default=None, metavar="N",
                   help="also score the models offline (leave-last-out, a second fit of each "
                        "on the training split) on N sampled users, 0 = every user; the "
                        "metrics go into meta.json. Default: no evaluation (it would double "
                        "the training time; `recagent evaluate` runs the full protocol)")
    p.add_argument("--no-eval", action="store_true",
                   help="--engine spark: skip its offline evaluation (the local engine "
                        "evaluates only with --eval-users)")
    p.add_argument("--quiet", action="store_true", help="print only the artifact path")
    add_engine_arguments(p)
    p.add_argument("--interactions", action="append", default=None, metavar="FILE",
                   help="--engine spark: read the interactions from this Parquet/CSV file or "
                        "folder instead of the catalog database (repeatable)")
    p.add_argument("--jdbc", action="store_true",
                   help="--engine spark: the executors read the catalog's interactions over "
                        "JDBC (PostgreSQL or a SQLite file; needs the driver jar: Debian's "
                        "libpostgresql-jdbc-java / libxerial-sqlite-jdbc-java, or "
                        "--spark-conf spark.jars=JAR) instead of SQLAlchemy in the driver")
    p.add_argument("--jdbc-partitions", type=int, default=None, metavar="N",
                   help="--jdbc on PostgreSQL: parallel queries (default: Spark's parallelism)")
    p.set_defaults(func=_train)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--master`` and ``--spark-conf`` (shared with ``recagent evaluate``)."""
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: implicit in this process (default); spark: ALS on Apache Spark "
                        "MLlib (needs the `spark` extra and Java 17+)")
    p.add_argument("--master", default=None,
                   help="--engine spark: Spark master URL, e.g. local[2], spark://HOST:7077, "
                        "yarn, k8s://https://HOST:443 (default: local[*])")
    p.add_argument("--spark-conf", action="append", default=None, metavar="KEY=VALUE",
                   help="--engine spark: extra Spark configuration (repeatable), "
                        "e.g. spark.driver.memory=8g")


def _eval_users(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number of users (0 = all), got {value!r}")
    return n


def spark_conf(args: argparse.Namespace) -> dict[str, str]:

    out = {}
    for item in args.spark_conf or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--spark-conf: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def check_engine_arguments(args: argparse.Namespace) -> None:

    if args.engine != "spark":
        for flag, value in (("--master", args.master), ("--spark-conf", args.spark_conf),
                            ("--interactions", getattr(args, "interactions", None)),
                            ("--jdbc", getattr(args, "jdbc", False)),
                            ("--jdbc-partitions", getattr(args, "jdbc_partitions", None))):
            if value:
                raise CliError(f"{flag} needs --engine spark")


def _train(args: argparse.Namespace) -> int:
    from tools.catalog.db import ensure_schema, make_engine  # deferred: start-up time (--help)
    from tools.recommenders.artifacts import read_meta  # deferred: start-up time (--help)
    from tools.recommenders.training import (  # deferred: start-up time (--help)
        NoInteractionsError,
        train,
    )

    settings = load_settings()
    models, seed = models_and_seed(args, settings)
    check_engine_arguments(args)
    if args.engine == "spark":
        return _train_spark(args, settings, seed)
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        start = time.perf_counter()
        try:
            path = train(engine, settings.model_dir, models=models, seed=seed,
                         progress=not args.quiet, evaluate=args.eval_users is not None,
                         eval_users=args.eval_users or None, min_rating=args.min_rating)
        except NoInteractionsError as exc:
            raise CliError(f"{exc}; import some first (`recagent ingest ...`)") from None
        total = time.perf_counter() - start
    finally:
        engine.dispose()
    if args.quiet:
        print(path)
        return 0
    meta = read_meta(path)
    print(f"artifact: {path}")
    print(f"data: {meta['data']['interactions']} interactions, {meta['data']['users']} users, "
          f"{meta['data']['items']} items (fingerprint {meta['fingerprint'][:12]})")
    for key, value in meta["timings"].items():
        print(f"  {key.removesuffix('_s'):<16} {value:8.2f} s")
    print(f"  {'total':<16} {total:8.2f} s")
    metrics = meta.get("metrics", {})
    for name in models:
        m = metrics.get(name)
        if m:
            print(f"  {name:<12} hr@10 {m['hr@10']:.4f}  ndcg@10 {m['ndcg@10']:.4f}")
    return 0


def _train_spark(args: argparse.Namespace, settings: Any, seed: int) -> int:
    from tools.catalog.db import ensure_schema, make_engine  # deferred: start-up time (--help)
    from tools.recommenders.artifacts import read_meta  # deferred: start-up time (--help)
    from tools.recommenders.spark_training import (  # deferred: start-up time (--help)
        DEFAULT_MASTER,
        SparkUnavailableError,
        train_spark,
    )
    from tools.recommenders.training import NoInteractionsError  # deferred: start-up time (--help)

    if args.models and [m.strip() for m in args.models.split(",") if m.strip()] != ["als"]:
        raise CliError("--engine spark fits ALS only (the artifact also gets popularity and "
                       "the text index); drop --models or use --models als")
    if args.jdbc and args.interactions:
        raise CliError("--jdbc reads the catalog database; --interactions reads files: "
                       "give one of them")
    if args.jdbc_partitions is not None and args.jdbc_partitions < 1:
        raise CliError("--jdbc-partitions must be at least 1")
    engine = make_engine(settings.database_url)
    start = time.perf_counter()
    try:
        ensure_schema(engine)
        path = train_spark(settings.model_dir, engine=engine,
                           interactions=args.interactions or (),
                           master=args.master or DEFAULT_MASTER, seed=seed,
                           min_rating=args.min_rating, progress=not args.quiet,
                           evaluate=not args.no_eval, conf=spark_conf(args),
                           jdbc=args.jdbc, jdbc_partitions=args.jdbc_partitions)
    except SparkUnavailableError as exc:
        raise CliError(str(exc)) from None
    except (NoInteractionsError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    total = time.perf_counter() - start
    if args.quiet:
        print(path)
        return 0
    meta = read_meta(path)
    print(f"artifact: {path}")
    print(f"engine: spark {meta['spark']['version']} on {meta['spark']['master']}")
    print(f"data: {meta['data']['interactions']} interactions, {meta['data']['users']} users, "
          f"{meta['data']['items']} items (fingerprint {meta['fingerprint'][:12]})")
    for key, value in meta["timings"].items():
        print(f"  {key.removesuffix('_s'):<16} {value:8.2f} s")
    print(f"  {'total':<16} {total:8.2f} s")
    m = meta.get("metrics", {}).get("als")
    if m:
        print(f"  {'als (spark)':<12} hr@10 {m['hr@10']:.4f}  ndcg@10 {m['ndcg@10']:.4f}")
    return 0
