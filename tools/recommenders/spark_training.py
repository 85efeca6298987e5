"""``recagent train --engine spark``: implicit-feedback ALS on Apache Spark (MLlib), written
into the same versioned artifact the service already loads.

Why and when: see ``docs/spark.md``. In short, ``implicit`` on one machine is right up to tens
of millions of interactions; beyond that, or where the logs already live next to a Spark
cluster, this module fits the factors there and ships only the result.

Pipeline (every stage reports its time when ``progress`` is on):

1. **read** the interactions: from Parquet/CSV files (``user_id,item_id[,rating][,timestamp]``;
   the scale case: the log never passes through SQL or the driver's memory), or from the
   catalog database: over JDBC (``jdbc=True``; the executors read the table, PostgreSQL in
   ``jdbc_partitions`` parallel queries; needs the JDBC driver jar, which PySpark does not
   ship, see :func:`jdbc_source`), or else with SQLAlchemy in the driver, handed to Spark.
2. **prepare**, in Spark: one row per (user, item) (the latest timestamp wins), ``min_rating``,
   confidences ``1 + r / r_max`` (unrated: 1) exactly as :mod:`tools.recommenders.data`, ids
   coded against their sorted unique values (the catalog order the models use for ties).
3. **weigh**, in Spark: the same BM25 row weighting as the local ALS (``weighting="bm25"``,
   ``bm25_k1``, ``bm25_b``; the idf and average row length are kept for fold-in at serve time).
4. **fit** ``pyspark.ml.recommendation.ALS(implicitPrefs=True)`` with the local ALS's
   hyper-parameters mapped: ``factors -> rank``, ``iterations -> maxIter``, ``alpha -> alpha``,
   ``random_state -> seed``, ``regularization -> regParam`` divided by the mean number of
   interactions per user (MLlib scales the penalty of each user's and item's solve by its
   number of interactions, ALS-WR; ``implicit`` does not). See :func:`spark_als_params`.
5. **collect** the factors and the confidence matrix (the service needs both: scores, and the
   user's history to exclude seen items) to the driver, and **write** an ordinary ``als``
   model folder (``arrays.npz`` + ``params.json``, never pickle) plus ``popularity`` and the text
   index into a new artifact (hidden temporary folder, ``COMPLETE`` marker, atomic rename), so
   :func:`tools.recommenders.artifacts.load_bundle` and the API serve it unchanged.

Failures (PySpark not installed, no Java, an unreachable master, no JDBC driver jar, a database
JDBC cannot reach) raise :class:`SparkUnavailableError` with a one-line message naming what is
missing.

This module runs the pipeline; the stages live in :mod:`~tools.recommenders.spark_env`
(checks and the session), :mod:`~tools.recommenders.spark_jdbc` (reading over JDBC),
:mod:`~tools.recommenders.spark_data` (reading, preparing, collecting) and
:mod:`~tools.recommenders.spark_als` (weighting and fitting); their public names are
re-exported here.
"""


from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import scipy.sparse as sp

from tools.recommenders import artifacts, training
from tools.recommenders.als import ALSRecommender
from tools.recommenders.base import InteractionData
from tools.recommenders.evaluation import evaluate
from tools.recommenders.popularity import PopularityRecommender
from tools.recommenders.spark_als import SparkFit, fit_als, spark_als_params, to_recommender
from tools.recommenders.spark_data import (
    Prepared,
    collect_matrix,
    from_matrix,
    matrix_fingerprint,
    prepare,
    read_catalog,
    read_files,
)
from tools.recommenders.spark_env import (
    DEFAULT_MASTER,
    INSTALL_HINT,
    SparkUnavailableError,
    check_master,
    require_java,
    require_pyspark,
    spark_session,
)
from tools.recommenders.spark_jdbc import (
    JDBC_DRIVERS,
    JdbcDriver,
    JdbcSource,
    jdbc_source,
    jdbc_url,
    read_jdbc,
    with_jdbc_jar,
)
from tools.recommenders.training import NoInteractionsError

__all__ = [
    "DEFAULT_MASTER", "INSTALL_HINT", "JDBC_DRIVERS", "JdbcDriver", "JdbcSource", "Prepared",
    "SparkFit", "SparkUnavailableError", "check_master", "collect_matrix", "evaluate_spark",
    "evaluate_with", "fit_als", "from_matrix", "jdbc_source", "jdbc_url", "matrix_fingerprint",
    "prepare", "read_catalog", "read_files", "read_jdbc", "require_java", "require_pyspark",
    "spark_als_params", "spark_session", "to_recommender", "train_spark", "with_jdbc_jar",
]


# ---- the whole run ---------------------------------------------------------------------------
def train_spark(
    model_dir: Path,
    *,
    engine: Any = None,
    interactions: Sequence[str | Path] = (),
    master: str = DEFAULT_MASTER,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    progress: bool = False,
    evaluate: bool = True,
    conf: Mapping[str, str] | None = None,
    jdbc: bool = False,
    jdbc_partitions: int | None = None,
) -> Path:
    """Fit ALS on Spark and write a new artifact (``als`` + ``popularity`` + the text index
    when ``engine`` is given); returns its folder. Interactions come from ``interactions``
    files when given, else from the catalog at ``engine``: over JDBC when ``jdbc`` (read by
    the executors, see :func:`read_jdbc`), else with SQLAlchemy in the driver."""
    _check_sources(engine, interactions, jdbc)
    source_jdbc = None
    if jdbc:
        source_jdbc = jdbc_source(engine.url.render_as_string(hide_password=False), conf)
        conf = with_jdbc_jar(conf, source_jdbc)
    als_params = {**ALSRecommender.defaults, "random_state": seed, **dict(params or {})}
    ALSRecommender(**als_params)  # unknown / bad parameters fail before Spark starts
    _check_files(interactions)
    timings: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    clock = time.perf_counter()

    def stage(name: str, message: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_s"] = now - clock
        clock = now
        if progress:
            print(f"[spark] {message} in {timings[f'{name}_s']:.2f}s", flush=True)

    spark_version = require_pyspark()
    with spark_session(master, conf) as spark:
        stage("start", f"started Spark {spark_version} on {master}")
        raw, log, source, read_partitions = _read_source(
            spark, engine, interactions, source_jdbc, jdbc_partitions)
        prepared = prepare(spark, raw, min_rating=min_rating)
        if len(prepared.user_ids) == 0:
            raise NoInteractionsError(f"no interactions to train on in {source}")
        stage("read", f"read {len(prepared.user_ids)} users x {len(prepared.item_ids)} items "
                      f"from {source}")
        fit = fit_als(prepared, als_params)
        sp_ = fit.spark_params
        stage("fit_als", f"fitted ALS (rank {sp_['rank']}, regParam {sp_['regParam']:.4g}, "
                         f"maxIter {sp_['maxIter']})")
        matrix = collect_matrix(prepared)
        prepared.frame.unpersist()
        stage("collect", f"collected {matrix.nnz} interactions and the factors")
        if evaluate and log is not None:
            metrics = _evaluate_metrics(spark, log, seed=seed, params=als_params,
                                        min_rating=min_rating)
            stage("evaluate", "evaluated (leave-last-out, ALS fitted on Spark)")
        elif evaluate:
            where = "over JDBC" if source_jdbc is not None else "from files"
            metrics = {"skipped": f"interactions read {where}: `recagent evaluate --engine "
                                  "spark` evaluates the catalog's interactions"}
    fingerprint = _fingerprint(log, min_rating, prepared, matrix)
    data = InteractionData(matrix=matrix, user_ids=prepared.user_ids,
                           item_ids=prepared.item_ids, fingerprint=fingerprint)
    with artifacts.writing_artifact(model_dir, fingerprint) as tmp:
        als = to_recommender(fit, data, als_params)
        als.save(tmp / "als")
        pop = PopularityRecommender()
        pop.fit(data)
        pop.save(tmp / "popularity")
        if engine is not None:
            text_index = artifacts._text_index_class()
            if text_index is not None:
                text_index.build(engine).save(tmp / artifacts.TEXT_DIR)
        stage("write", "wrote the artifact")
        meta = {
            "models": ["als", "popularity"],
            "params": {"als": als.params, "popularity": pop.params},
            "engine": "spark",
            "spark": {"master": master, "version": spark_version, "als": fit.spark_params,
                      "source": source,
                      **({"jdbc_partitions": read_partitions} if read_partitions else {})},
            "metrics": metrics,
            "seed": seed,
            "min_rating": min_rating,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "data": {"interactions": int(matrix.nnz), "users": len(data.user_ids),
                     "items": len(data.item_ids)},
        }
        return artifacts.publish(tmp, fingerprint, meta)


def _check_sources(engine: Any, interactions: Sequence[str | Path], jdbc: bool) -> None:
    """:func:`train_spark` reads interaction files or the catalog database (JDBC: only it)."""
    if engine is None and not interactions:
        raise ValueError("give interaction files or a catalog database")
    if jdbc and (interactions or engine is None):
        raise ValueError("JDBC reads the catalog database: give it, and no interaction files")


def _check_files(interactions: Sequence[str | Path]) -> None:
    """Local interaction files exist (URLs are left to Spark)."""
    for name in map(str, interactions):
        if "://" not in name and not Path(name).exists():
            raise FileNotFoundError(f"{name}: no such file")


def _read_source(
    spark: Any, engine: Any, interactions: Sequence[str | Path], source_jdbc: JdbcSource | None,
    jdbc_partitions: int | None,
) -> tuple[Any, Any, str, int | None]:
    """The raw interactions frame from the files, over JDBC or from the catalog through
    SQLAlchemy: (frame, the catalog's interaction log or None, source label, JDBC read
    partitions or None)."""
    log = None
    read_partitions = None
    if interactions:
        raw = read_files(spark, interactions)
        source = ", ".join(str(p) for p in interactions)
    elif source_jdbc is not None:
        raw = read_jdbc(spark, source_jdbc, partitions=jdbc_partitions)
        source = source_jdbc.label
        read_partitions = int(raw.rdd.getNumPartitions())
    else:
        raw, log = read_catalog(spark, engine)
        source = "catalog database (SQLAlchemy, handed to Spark)"
    return raw, log, source, read_partitions


def _evaluate_metrics(spark: Any, log: Any, *, seed: int, params: Mapping[str, Any],
                      min_rating: float | None) -> dict[str, Any]:
    """The artifact's metrics: leave-last-out with ALS fitted on Spark (or why skipped)."""
    try:
        result = evaluate_with(spark, log, seed=seed, params=params, min_rating=min_rating)
        row = {k: v for k, v in result["models"]["als-spark"].items() if k != "params"}
        return {"als": row, "users": result["users"]}
    except ValueError as exc:  # e.g. no user with two interactions
        return {"skipped": str(exc)}


def _fingerprint(log: Any, min_rating: float | None, prepared: Prepared,
                 matrix: sp.csr_matrix) -> str:
    """The artifact's data fingerprint: the catalog log's (with the rating floor), else the
    collected matrix's."""
    if log is not None:
        fingerprint: str = log.fingerprint()
        if min_rating is not None:
            fingerprint = hashlib.sha256(
                f"{fingerprint}:min_rating={min_rating}".encode()).hexdigest()
        return fingerprint
    return matrix_fingerprint(prepared.user_ids, prepared.item_ids, matrix)


# ---- evaluation ------------------------------------------------------------------------------
def evaluate_spark(
    log: Any,
    *,
    master: str = DEFAULT_MASTER,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    local_models: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The project's leave-last-out evaluation with a row ``als-spark`` (ALS fitted on
    Spark at ``master``) next to ``local_models`` (fitted locally, as ``recagent evaluate``)."""
    with spark_session(master, conf) as spark:
        return evaluate_with(spark, log, seed=seed, params=params, min_rating=min_rating,
                             local_models=local_models)


def evaluate_with(
    spark: Any,
    log: Any,
    *,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    local_models: Sequence[str] = (),
) -> dict[str, Any]:
    """:func:`tools.recommenders.evaluation.evaluate` (same split, same metrics code) with
    ``als-spark`` added: for the duration of the call only, that name is registered for a
    subclass of the local ALS whose fit runs on ``spark``. Artifacts never name it."""
    class SparkALS(ALSRecommender):
        def fit(self, data: InteractionData) -> None:
            prepared = from_matrix(spark, data)
            fit = fit_als(prepared, self.params)
            prepared.frame.unpersist()
            self.__dict__.update(to_recommender(fit, data, self.params).__dict__)

    training.registry["als-spark"] = SparkALS
    try:
        model_params = {name: dict(params or {}) for name in ("als", "als-spark")}
        return evaluate(log, models=[*local_models, "als-spark"], seed=seed,
                        params=model_params, min_rating=min_rating)
    finally:
        training.registry.pop("als-spark", None)
