"""Item-kNN (``implicit.nearest_neighbours.ItemItemRecommender``): item-item similarity of
the (weighted) interaction columns, keeping the ``K`` nearest neighbours of each item.

``weighting``: ``"cosine"`` (columns L2-normalised) or ``"bm25"`` (implicit's BM25 weighting
of the item x user matrix). A user's score for an item is the confidence-weighted sum of the
similarities from the items they interacted with; fold-in does the same for the liked items.
``similar_items`` sums the seeds' similarity rows; ``explain`` returns each liked item's term.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight

from tools.recommenders.common import MatrixRecommender, one_blas_thread


class ItemKNNRecommender(MatrixRecommender):
    name: ClassVar[str] = "itemknn"
    defaults: ClassVar[dict[str, Any]] = {
        "K": 50,
        "weighting": "cosine",  # "cosine" or "bm25"
        "bm25_k1": 1.2,
        "bm25_b": 0.75,
        "num_threads": 0,  # each item's neighbours are computed independently: deterministic
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["weighting"] not in ("cosine", "bm25"):
            raise ValueError("itemknn: weighting must be 'cosine' or 'bm25'")
        self.similarity: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _weighted(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """users x items, float64 (what implicit's all_pairs_knn takes)."""
        if self.params["weighting"] == "bm25":
            weighted = bm25_weight(matrix.T, float(self.params["bm25_k1"]),
                                   float(self.params["bm25_b"])).T
            return sp.csr_matrix(weighted, dtype=np.float64)
        m = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        m.data /= np.repeat(norms, np.diff(m.indptr))
        return sp.csr_matrix(m)

    def _fit(self, matrix: sp.csr_matrix) -> None:
        model = ItemItemRecommender(K=int(self.params["K"]),
                                    num_threads=int(self.params["num_threads"]))
        with one_blas_thread():
            model.fit(self._weighted(matrix), show_progress=False)
        sim = sp.csr_matrix(model.similarity, dtype=np.float32)
        sim.setdiag(0.0)  # an item is not its own neighbour
        sim.eliminate_zeros()
        sim.sort_indices()
        self.similarity = sim

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.user_items[rows] @ self.similarity).todense())

    def _fold_in_scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[items].T @ weights.astype(np.float32)).ravel()

    def _similar_scores(self, seeds: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity[seeds].sum(axis=0)).ravel()

    # With ``cols``: the same weighted sum of similarity rows, kept sparse (only the
    # neighbours of the history/seeds are non-zero), then read at ``cols``.
    def _user_scores_at(self, row: int, cols: np.ndarray | None) -> np.ndarray:
        if cols is None:
            scores: np.ndarray = self._user_scores(np.array([row]))[0]
            return scores
        return _sparse_row_at(self.user_items[[row]] @ self.similarity, cols)

    def _fold_in_scores_at(self, items: np.ndarray, weights: np.ndarray,
                           cols: np.ndarray | None) -> np.ndarray:
        if cols is None:
            return self._fold_in_scores(items, weights)
        w = sp.csr_matrix(weights.astype(np.float32)[None, :])
        return _sparse_row_at(w @ self.similarity[items], cols)

    def _similar_scores_at(self, seeds: np.ndarray, cols: np.ndarray | None) -> np.ndarray:
        if cols is None:
            return self._similar_scores(seeds)
        ones = sp.csr_matrix(np.ones((1, seeds.shape[0]), dtype=np.float32))
        return _sparse_row_at(ones @ self.similarity[seeds], cols)

    def _contributions(self, target: int, items: np.ndarray, weights: np.ndarray,
                       row: int | None) -> np.ndarray:
        column = np.asarray(self.similarity[items][:, [target]].todense()).ravel()
        pulls: np.ndarray = column * weights
        return pulls

    def _arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        n = self.n_items
        self.similarity = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n)
        )


def _sparse_row_at(row: sp.spmatrix, cols: np.ndarray) -> np.ndarray:
    """The values of a 1 x n sparse row at ``cols`` (0 where it has no entry)."""
    row = sp.csr_matrix(row)
    row.sum_duplicates()  # canonical: sorted, unique column indices
    out = np.zeros(cols.shape[0], dtype=row.dtype)
    if row.nnz and cols.size:
        pos = np.searchsorted(row.indices, cols)
        pos_in = np.minimum(pos, row.nnz - 1)
        hit = row.indices[pos_in] == cols
        out[hit] = row.data[pos_in[hit]]
    return out
