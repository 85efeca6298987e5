"""Bayesian Personalized Ranking (``implicit.cpu.bpr.BayesianPersonalizedRanking``).

BPR treats every interaction as a binary positive. implicit appends a bias column to the
item factors (and a constant 1 to the user factors). Fold-in for an anonymous user: the
confidence-weighted mean of the liked items' factors (bias column set to 1).
Explanations: cosine similarity between the target's factors and each liked item's.
Fitting runs single-threaded by default: multi-threaded SGD (Hogwild) is not reproducible.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.bpr import BayesianPersonalizedRanking

from tools.recommenders.common import FactorRecommender, one_blas_thread


class BPRRecommender(FactorRecommender):
    name: ClassVar[str] = "bpr"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "learning_rate": 0.05,
        "regularization": 0.01,
        "iterations": 100,
        "random_state": 42,
        "num_threads": 1,  # >1 is faster but not reproducible
    }

    def _fit(self, matrix: sp.csr_matrix) -> None:
        p = self.params
        with one_blas_thread():
            model = BayesianPersonalizedRanking(
                factors=int(p["factors"]), learning_rate=float(p["learning_rate"]),
                regularization=float(p["regularization"]), iterations=int(p["iterations"]),
                num_threads=int(p["num_threads"]), random_state=int(p["random_state"]),
                verify_negative_samples=True,
            )
            model.fit(matrix, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)

    def _fold_in_scores_at(self, items: np.ndarray, weights: np.ndarray,
                           cols: np.ndarray | None) -> np.ndarray:
        w = weights.astype(np.float64) / float(weights.sum())
        user = (w[:, None] * self.item_factors[items]).sum(axis=0)
        user[-1] = 1.0  # the bias column
        scores: np.ndarray = self._factors_at(cols) @ user.astype(np.float32)
        return scores

    def _similarity_factors(self) -> np.ndarray:
        return self.item_factors[:, :-1]  # without the bias column

    def _contributions(self, target: int, items: np.ndarray, weights: np.ndarray,
                       row: int | None) -> np.ndarray:
        unit = self._unit_factors()
        pulls: np.ndarray = unit[items] @ unit[target]
        return pulls
