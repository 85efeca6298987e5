"""``train``: fit the CF models on the catalog's interactions and write a versioned artifact.

The interactions are streamed from SQL straight into the confidence matrix
(:func:`tools.recommenders.data.load_log`), every model is fitted on it and saved, and the
text index (:class:`tools.recommenders.text.TextIndex`) is built into the same artifact.

Offline evaluation is opt-in (``evaluate=True``; ``recagent train --eval-users N``). A
held-out metric needs a second fit of every model on a training split without the held-out
interactions, which costs as much as the training itself however few users are then ranked,
so evaluating by default would make ``train`` at least twice the fits. When asked for, the
models are scored by :func:`tools.recommenders.evaluation.evaluate` on ``eval_users``
sampled users (``None``: every user) and the metrics go into ``meta.json``;
``recagent evaluate`` runs the full protocol on its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tools.recommenders import artifacts
from tools.recommenders.data import load_log
from tools.recommenders.evaluation import evaluate as run_evaluation
from tools.recommenders.registry import (
    DEFAULT_MODELS,
    check_model_names,
    make_model,
    registry,
)
from tools.recommenders.text import TextIndex

__all__ = [
    "DEFAULT_EVAL_USERS",
    "DEFAULT_MODELS",
    "NoInteractionsError",
    "check_model_names",
    "make_model",
    "registry",
    "train",
]

# the users ``train(evaluate=True)`` ranks when not told otherwise: HR@10 on a random sample
# of 10k users has a standard error <= 0.005 (binomial), and ranking them costs far less than
# the fits
DEFAULT_EVAL_USERS = 10_000


class NoInteractionsError(ValueError):
    """The catalog holds no interactions to train on."""


def train(
    engine: Engine,
    model_dir: Path,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    seed: int = 42,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    evaluate: bool = False,
    eval_users: int | None = DEFAULT_EVAL_USERS,
    min_rating: float | None = None,
) -> Path:
    """Fit ``models`` on all interactions; returns the new artifact folder.

    ``evaluate``: also score the models offline (temporal leave-last-out, a second fit of
    each on the training split) on ``eval_users`` sampled users (``None``: all of them)."""
    names = check_model_names(models)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    log = load_log(engine)
    data = log.to_data(min_rating=min_rating)
    timings["load_s"] = time.perf_counter() - start
    if data.matrix.nnz == 0:
        raise NoInteractionsError("the catalog has no interactions to train on")
    _say(progress, f"loaded {data.matrix.nnz} interactions of {len(data.user_ids)} users "
                   f"x {len(data.item_ids)} items in {timings['load_s']:.2f}s")

    metrics: dict[str, Any] = {}
    if evaluate:
        start = time.perf_counter()
        try:
            report = run_evaluation(log, models=names, seed=seed, params=params,
                                    min_rating=min_rating, max_users=eval_users)
            metrics = {name: {k: v for k, v in m.items() if k != "params"}
                       for name, m in report["models"].items()}
            metrics["users"] = report["users"]
        except ValueError as exc:  # e.g. no user with two interactions
            metrics = {"skipped": str(exc)}
        timings["evaluate_s"] = time.perf_counter() - start
        _say(progress, f"evaluated in {timings['evaluate_s']:.2f}s")
    del log  # the matrix is all the fits need

    used_params: dict[str, Any] = {}
    with artifacts.writing_artifact(model_dir, data.fingerprint) as tmp:
        for name in names:
            model = make_model(name, seed=seed, **dict((params or {}).get(name, {})))
            start = time.perf_counter()
            model.fit(data)
            timings[f"fit_{name}_s"] = time.perf_counter() - start
            start = time.perf_counter()
            model.save(tmp / name)
            timings["save_s"] = timings.get("save_s", 0.0) + time.perf_counter() - start
            used_params[name] = model.params
            _say(progress, f"fitted {name} in {timings[f'fit_{name}_s']:.2f}s")
            del model
        start = time.perf_counter()
        TextIndex.build(engine).save(tmp / artifacts.TEXT_DIR)
        timings["text_s"] = time.perf_counter() - start
        _say(progress, f"built the text index in {timings['text_s']:.2f}s")
        meta = {
            "models": names,
            "params": used_params,
            "metrics": metrics,
            "seed": seed,
            "min_rating": min_rating,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "data": {"interactions": int(data.matrix.nnz), "users": len(data.user_ids),
                     "items": len(data.item_ids)},
        }
        return artifacts.publish(tmp, data.fingerprint, meta)


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, flush=True)
