"""``recagent evaluate``: offline evaluation (temporal leave-last-out) of every model."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from recagent.commands._model_args import add_model_arguments, models_and_seed
from recagent.commands.errors import CliError
from recagent.commands.train import add_engine_arguments, check_engine_arguments, spark_conf
from recagent.settings import load_settings

DEFAULT_JSON = Path("var/eval.json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="offline evaluation of the recommender models")
    add_model_arguments(p)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help=f"where to write the results as JSON (default: {DEFAULT_JSON})")

    add_engine_arguments(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from tools.catalog.db import ensure_schema, make_engine  # deferred: start-up time (--help)
    from tools.recommenders.data import load_log  # deferred: start-up time (--help)
    from tools.recommenders.evaluation import (  # deferred: start-up time (--help)
        evaluate,
        format_table,
    )

    settings = load_settings()
    models, seed = models_and_seed(args, settings)
    check_engine_arguments(args)
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        log = load_log(engine)
    finally:
        engine.dispose()
    if len(log) == 0:
        raise CliError("the catalog has no interactions; import some first (`recagent ingest ...`)")
    try:
        if args.engine == "spark":
            result = _evaluate_spark(args, log, models, seed)
        else:
            result = evaluate(log, models=models, seed=seed, min_rating=args.min_rating)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(format_table(result))
    out: Path = args.json
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)  # never a half-written file
    print(f"\nwritten to {out}")
    return 0


def _evaluate_spark(args: argparse.Namespace, log: Any, models: list[str],
                    seed: int) -> dict[str, Any]:
    """The local models (``--models``) and ``als-spark`` (ALS fitted on Spark) on the same
    leave-last-out split, in one table."""
    from tools.recommenders.spark_training import (  # deferred: start-up time (--help)
        DEFAULT_MASTER,
        SparkUnavailableError,
        evaluate_spark,
    )

    try:
        return evaluate_spark(log, master=args.master or DEFAULT_MASTER, seed=seed,
                              min_rating=args.min_rating, local_models=models,
                              conf=spark_conf(args))
    except SparkUnavailableError as exc:
        raise CliError(str(exc)) from None
