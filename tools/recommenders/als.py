"""Implicit-feedback ALS (``implicit.cpu.als.AlternatingLeastSquares``): the default model.

The confidence matrix is optionally BM25-weighted per user row (``weighting="bm25"``: damps
heavy users and very popular items) before fitting; the same weighting is applied to an
anonymous user's liked items, whose user vector is then solved exactly against the item
factors (``recalculate_user``). Explanations use implicit's ``explain`` (the liked items'
share of the score under the user's weighted least-squares solution).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from tools.recommenders.common import FactorRecommender, one_blas_thread


class ALSRecommender(FactorRecommender):
    name: ClassVar[str] = "als"
    defaults: ClassVar[dict[str, Any]] = {
        # tuned on ml-latest-small leave-last-out (docs/evaluation.md)
        "factors": 128,
        "regularization": 20.0,
        "alpha": 1.0,
        "iterations": 15,
        "weighting": "bm25",  # "bm25" or "none"
        "bm25_k1": 100.0,
        "bm25_b": 0.8,
        "random_state": 42,
        "num_threads": 0,  # 0 = all cores; per-user solves are independent: deterministic
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["weighting"] not in ("bm25", "none"):
            raise ValueError("als: weighting must be 'bm25' or 'none'")
        self.idf = np.empty(0, dtype=np.float32)
        self.avg_length = 1.0
        self._model: Any = None

    def _new_model(self) -> Any:
        p = self.params
        with one_blas_thread():  # implicit checks the BLAS thread count when constructed
            return AlternatingLeastSquares(
                factors=int(p["factors"]), regularization=float(p["regularization"]),
                alpha=float(p["alpha"]), iterations=int(p["iterations"]),
                random_state=int(p["random_state"]), num_threads=int(p["num_threads"]),
                calculate_training_loss=False,
            )

    # ---- weighting -----------------------------------------------------------------------
    def _weigh(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """BM25 weights of the rows of ``matrix`` (users x all items), using the idf and
        average row length learned at fit time."""
        if self.params["weighting"] == "none":
            return sp.csr_matrix(matrix, dtype=np.float32)
        k1, b = float(self.params["bm25_k1"]), float(self.params["bm25_b"])
        m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        lengths = np.asarray(m.sum(axis=1)).ravel()
        norm = (1.0 - b) + b * lengths / self.avg_length
        row_of = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        m.data = (m.data * (k1 + 1.0) / (k1 * norm[row_of] + m.data) * self.idf[m.indices])
        m.data = m.data.astype(np.float32)
        return m

    def _fit(self, matrix: sp.csr_matrix) -> None:
        n_users = matrix.shape[0]
        self.idf = (np.log(n_users) - np.log1p(self.popularity)).astype(np.float32)
        self.idf = np.maximum(self.idf, 1e-3)  # an item everyone has still counts a little
        self.avg_length = float(np.asarray(matrix.sum(axis=1)).mean())
        model = self._new_model()
        with one_blas_thread():
            model.fit(self._weigh(matrix), show_progress=False)
        model.num_threads = 1  # one user at a time from here on: threads only add overhead
        self._model = model
        self._set_factors(model.user_factors, model.item_factors)

    # ---- scoring -------------------------------------------------------------------------
    def _one_row(self, items: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
        order = np.argsort(items)
        row = sp.csr_matrix(
            (weights[order].astype(np.float32), items[order].astype(np.int32),
             np.array([0, items.shape[0]])),
            shape=(1, self.n_items),
        )
        return self._weigh(row)

    def fold_in(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The user vector that best explains liking ``items`` (exact least squares)."""
        with one_blas_thread():
            vector = self._model.recalculate_user(0, self._one_row(items, weights))
        return np.asarray(vector, dtype=np.float32)

    def _fold_in_scores_at(self, items: np.ndarray, weights: np.ndarray,
                           cols: np.ndarray | None) -> np.ndarray:
        scores: np.ndarray = self._factors_at(cols) @ self.fold_in(items, weights)
        return scores

    def _contributions(self, target: int, items: np.ndarray, weights: np.ndarray,
                       row: int | None) -> np.ndarray:
        user_row = self._one_row(items, weights)
        with one_blas_thread():
            _, top, _ = self._model.explain(0, user_row, target, N=items.shape[0])
        contrib = dict(top)
        return np.array([contrib.get(int(i), 0.0) for i in items], dtype=np.float64)

    # ---- persistence ---------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "idf": self.idf, "avg_length": np.asarray([self.avg_length])}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.idf = arrays["idf"]
        self.avg_length = float(arrays["avg_length"][0])
        model = self._new_model()
        model.num_threads = 1
        model.user_factors = self.user_factors
        model.item_factors = self.item_factors
        self._model = model
