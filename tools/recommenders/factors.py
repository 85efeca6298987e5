"""Latent-factor models (ALS, BPR): a user's score for an item is the dot product of their
factors; item similarity is the cosine of item factors."""

from __future__ import annotations

from typing import Any

import numpy as np

from tools.recommenders.matrix import MatrixRecommender


class FactorRecommender(MatrixRecommender):
    """A latent-factor model (ALS, BPR): scores are dot products of user and item factors,
    similarity is the cosine of item factors. Subclasses fit the factors and fold in."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.user_factors = np.empty((0, 0), dtype=np.float32)
        self.item_factors = np.empty((0, 0), dtype=np.float32)
        self._unit: np.ndarray | None = None

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self._unit = None

    def _similarity_factors(self) -> np.ndarray:
        """The item factors cosine similarity is computed on (all columns by default)."""
        return self.item_factors

    def _unit_factors(self) -> np.ndarray:
        if self._unit is None:
            f = self._similarity_factors()
            norms = np.linalg.norm(f, axis=1)
            norms[norms == 0] = 1e-10
            self._unit = f / norms[:, None]
        return self._unit

    def _factors_at(self, cols: np.ndarray | None) -> np.ndarray:
        # np.take: the same rows as fancy indexing, gathered ~1.5x faster on a large pool
        return self.item_factors if cols is None else np.take(self.item_factors, cols, axis=0)

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        scores: np.ndarray = self.user_factors[rows] @ self.item_factors.T
        return scores

    def _user_scores_at(self, row: int, cols: np.ndarray | None) -> np.ndarray:
        scores: np.ndarray = (self.user_factors[[row]] @ self._factors_at(cols).T)[0]
        return scores

    def _fold_in_scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return self._fold_in_scores_at(items, weights, None)

    def _similar_scores(self, seeds: np.ndarray) -> np.ndarray:
        return self._similar_scores_at(seeds, None)

    def _similar_scores_at(self, seeds: np.ndarray, cols: np.ndarray | None) -> np.ndarray:
        unit = self._unit_factors()
        pool = unit if cols is None else np.take(unit, cols, axis=0)
        scores: np.ndarray = pool @ unit[seeds].sum(axis=0)
        return scores

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]
        self._unit = None
