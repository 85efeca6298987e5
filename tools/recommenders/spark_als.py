"""Fitting ALS on Spark: the local ALS's parameters mapped to MLlib's, the same BM25 row
weighting as the local ALS (its idf and average row length kept for fold-in at serve time),
``pyspark.ml.recommendation.ALS(implicitPrefs=True)``, and the factors brought back as an
ordinary :class:`~tools.recommenders.als.ALSRecommender`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tools.recommenders.als import ALSRecommender
from tools.recommenders.base import InteractionData
from tools.recommenders.spark_data import Prepared


def spark_als_params(params: Mapping[str, Any], mean_per_user: float) -> dict[str, Any]:
    """MLlib ALS arguments for the local ALS parameters ``params``.

    ``regParam``: MLlib multiplies it by each user's (item's) number of interactions;
    ``implicit`` uses the plain value, so the local penalty is divided by the mean number
    of interactions per user. ``alpha``: MLlib's confidence is ``1 + alpha * w``,
    implicit's ``alpha * w`` (both with weight 1 for unobserved pairs); equal alphas."""
    return {
        "rank": int(params["factors"]),
        "maxIter": int(params["iterations"]),
        "regParam": float(params["regularization"]) / max(float(mean_per_user), 1.0),
        "alpha": float(params["alpha"]),
        "seed": int(params["random_state"]),
    }


@dataclass
class SparkFit:
    user_factors: np.ndarray
    item_factors: np.ndarray
    idf: np.ndarray
    avg_length: float
    popularity: np.ndarray
    spark_params: dict[str, Any]


def fit_als(prepared: Prepared, params: Mapping[str, Any]) -> SparkFit:
    """Weigh (BM25 when asked) and fit MLlib's implicit ALS; factors come back to the
    driver as float32 arrays indexed like ``prepared``'s id arrays."""
    from pyspark.ml.recommendation import ALS  # deferred: optional dependency (pyspark)
    from pyspark.sql import functions as F  # deferred: optional dependency (pyspark)

    p = {**ALSRecommender.defaults, **params}
    frame = prepared.frame
    spark = frame.sparkSession
    n_users, n_items = len(prepared.user_ids), len(prepared.item_ids)
    popularity = np.zeros(n_items, dtype=np.float32)
    for i, count in frame.groupBy("i").count().collect():
        popularity[i] = count
    lengths = frame.groupBy("u").agg(F.sum("conf").alias("len"))
    avg_length = float(lengths.agg(F.avg("len")).first()[0])
    idf = np.maximum(np.log(n_users) - np.log1p(popularity), 1e-3).astype(np.float32)
    if p["weighting"] == "bm25":
        k1, b = float(p["bm25_k1"]), float(p["bm25_b"])
        idf_df = spark.createDataFrame(list(zip(range(n_items), idf.astype(float).tolist(),
                                                strict=True)), "i int, idf double")
        norm = (1.0 - b) + b * F.col("len") / avg_length
        weighted = (frame.join(lengths, "u").join(F.broadcast(idf_df), "i")
                    .select("u", "i", (F.col("conf") * (k1 + 1.0) / (k1 * norm + F.col("conf"))
                                       * F.col("idf")).cast("float").alias("w")))
    else:
        weighted = frame.select("u", "i", F.col("conf").alias("w"))
    spark_params = spark_als_params(p, frame.count() / max(n_users, 1))
    blocks = max(2, int(spark.sparkContext.defaultParallelism))  # MLlib's default: 10
    als = ALS(userCol="u", itemCol="i", ratingCol="w", implicitPrefs=True,
              coldStartStrategy="drop", numUserBlocks=blocks, numItemBlocks=blocks,
              **spark_params)
    model = als.fit(weighted)
    rank = spark_params["rank"]
    uf = _factors(model.userFactors, n_users, rank)
    itf = _factors(model.itemFactors, n_items, rank)
    return SparkFit(uf, itf, idf, avg_length, popularity, spark_params)


def _factors(df: Any, n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank), dtype=np.float32)
    for idx, features in df.collect():
        out[idx] = features
    return out


def to_recommender(fit: SparkFit, data: InteractionData,
                   params: Mapping[str, Any]) -> ALSRecommender:
    """An ordinary :class:`ALSRecommender` holding the Spark-fitted factors."""
    model = ALSRecommender(**dict(params))
    model._set_ids(np.asarray(data.user_ids).astype(str), np.asarray(data.item_ids).astype(str))
    model.user_items = sp.csr_matrix(data.matrix, dtype=np.float32)
    model.popularity = fit.popularity
    model._restore({"user_factors": fit.user_factors, "item_factors": fit.item_factors,
                    "idf": fit.idf, "avg_length": np.asarray([fit.avg_length])})
    return model
