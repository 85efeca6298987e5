"""What every recommender shares: id maps, the training matrix, ranking, save/load.

A model subclasses :class:`MatrixRecommender` and supplies item scores for known users,
for an ad-hoc weighted list of liked items (fold-in), item-to-item similarity, explanation
contributions, and its arrays. Ranking, candidate restriction, exclusion of seen items,
unknown-id handling and the on-disk format (``arrays.npz`` + ``params.json``, never
pickle) live here, so every implementation behaves the same at the edges:

- ``recommend`` for an unknown user raises ``KeyError``;
- unknown liked/seed/candidate ids are ignored (unknown candidates score ``-inf`` in
  ``score`` and never appear in ranked output);
- ``recommend_for_items`` with no known liked item falls back to the popularity prior;
- ``similar_items`` with no known seed and ``explain`` of an unknown item return ``[]``.

Ties are broken by catalog order (the sorted item ids) so output is deterministic.

Cost: with ``candidates`` (and in ``score``) only the candidates' rows are scored (the
``*_at`` hooks gather factor rows by index), so a call on a 2,000-item candidate set costs
the same on a 10k- or a 1M-item catalog; the top n is selected with a partition, never a
full sort; ids map to rows through the dict built once at fit/load time.

The pieces: :mod:`~tools.recommenders.topn` (picking the n best),
:mod:`~tools.recommenders.row_maps` (model rows vs catalog rows),
:mod:`~tools.recommenders.persistence` (the model folder); latent-factor models build on
:class:`~tools.recommenders.factors.FactorRecommender`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from tools.recommenders.base import InteractionData, Scored
from tools.recommenders.persistence import read_arrays, read_params, write_model
from tools.recommenders.row_maps import aligned_rows
from tools.recommenders.topn import ranked_rows, top_n_per_user


class MatrixRecommender:
    """Base class; see the module docstring for the shared behaviour."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    personalized: ClassVar[bool] = True  # False: same ranking for everybody (popularity)

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.defaults))}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.user_ids = np.empty(0, dtype=str)
        self.item_ids = np.empty(0, dtype=str)
        self.user_items: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.popularity = np.empty(0, dtype=np.float32)  # interactions per item
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}
        self._like_level: float | None = None

    # ---- subclass hooks -------------------------------------------------------------
    def _fit(self, matrix: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_items) scores for known users (row indices)."""
        raise NotImplementedError

    def _fold_in_scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(n_items,) scores for an anonymous user who liked ``items`` (with confidences)."""
        raise NotImplementedError

    def _similar_scores(self, seeds: np.ndarray) -> np.ndarray:
        """(n_items,) similarity to the seed items, summed over seeds."""
        raise NotImplementedError

    def _contributions(self, target: int, items: np.ndarray, weights: np.ndarray,
                       row: int | None) -> np.ndarray:
        """How much each of ``items`` (the user's history) pulls ``target`` up."""
        raise NotImplementedError

    # The ``*_at`` hooks score only the item rows ``cols`` (None: every item), in that
    # order. The defaults score every item and pick the rows; models override them to
    # gather just those rows (same values, a fraction of the work on a large catalog).
    def _user_scores_at(self, row: int, cols: np.ndarray | None) -> np.ndarray:
        scores: np.ndarray = self._user_scores(np.array([row]))[0]
        return scores if cols is None else scores[cols]

    def _fold_in_scores_at(self, items: np.ndarray, weights: np.ndarray,
                           cols: np.ndarray | None) -> np.ndarray:
        scores = self._fold_in_scores(items, weights)
        return scores if cols is None else scores[cols]

    def _similar_scores_at(self, seeds: np.ndarray, cols: np.ndarray | None) -> np.ndarray:
        scores = self._similar_scores(seeds)
        return scores if cols is None else scores[cols]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    # ---- fitting ------------------------------------------------------------------------
    def fit(self, data: InteractionData) -> None:
        matrix = sp.csr_matrix(data.matrix, dtype=np.float32)
        if matrix.shape != (len(data.user_ids), len(data.item_ids)):
            raise ValueError("matrix shape does not match the id arrays")
        if matrix.nnz == 0:
            raise ValueError(f"{self.name}: no interactions to fit on")
        matrix.sort_indices()
        self._set_ids(np.asarray(data.user_ids).astype(str), np.asarray(data.item_ids).astype(str))
        self.user_items = matrix
        self._like_level = None
        self.popularity = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float32)
        self._fit(matrix)

    def _set_ids(self, user_ids: np.ndarray, item_ids: np.ndarray) -> None:
        self.user_ids, self.item_ids = user_ids, item_ids
        self._user_index = {u: i for i, u in enumerate(user_ids.tolist())}
        self._item_index = {t: i for i, t in enumerate(item_ids.tolist())}

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def knows_user(self, user_id: str) -> bool:
        return user_id in self._user_index

    def knows_item(self, item_id: str) -> bool:
        return item_id in self._item_index

    # ---- id helpers ---------------------------------------------------------------------
    def _user_row(self, user_id: str) -> int:
        try:
            return self._user_index[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id!r} (not in the training data)") from None

    def _rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Row index of each id, same order (-1 for an unknown id)."""
        return np.fromiter(map(self._item_index.get, item_ids, repeat(-1)),
                           dtype=np.int64, count=len(item_ids))

    def _known_items(self, item_ids: Sequence[str]) -> np.ndarray:
        """Indices of the known ids, de-duplicated, first-seen order."""
        return self._known_rows(self._rows_of(item_ids))

    @staticmethod
    def _known_rows(rows: np.ndarray) -> np.ndarray:
        """``rows`` without -1 (unknown), de-duplicated, first-seen order."""
        rows = rows[rows >= 0]
        if rows.size > 1:
            _, first = np.unique(rows, return_index=True)
            if first.size < rows.size:
                rows = rows[np.sort(first)]
        return rows

    def _pool(self, candidates: Sequence[str] | None, exclude: np.ndarray) -> np.ndarray | None:
        """The known candidates' rows (first-seen order) minus ``exclude``; None: every item."""
        if candidates is None:
            return None
        return self._pool_rows(self._rows_of(candidates), exclude)

    def _pool_rows(self, rows: np.ndarray, exclude: np.ndarray, unique: bool = False
                   ) -> np.ndarray:
        rows = rows[rows >= 0] if unique else self._known_rows(rows)
        if exclude.size and rows.size:
            rows = rows[~np.isin(rows, exclude)]
        return rows

    def catalog_rows(self, universe_ids: np.ndarray, index: Mapping[str, int]
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(to_model, from_model) row maps against the catalog's rows (see
        :func:`aligned_rows`; None: the same order)."""
        return aligned_rows(self, self.item_ids, self._item_index, universe_ids)

    def _history(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.user_items.indptr[row], self.user_items.indptr[row + 1]
        return self.user_items.indices[start:end], self.user_items.data[start:end]

    def _liked_weights(self, liked: np.ndarray) -> np.ndarray:
        """Confidence given to an anonymous user's liked item: a strong positive (the 90th
        percentile of the training confidences)."""
        if self._like_level is None:
            data = self.user_items.data
            self._like_level = float(np.percentile(data, 90)) if data.size else 1.0
        return np.full(liked.shape[0], self._like_level, dtype=np.float32)

    def _ranked(self, pool: np.ndarray | None, scores: np.ndarray, n: int,
                exclude: np.ndarray) -> list[Scored]:
        """The n best of ``scores`` (aligned with ``pool``; None: every item, minus
        ``exclude``), best first, equal scores in catalog order; non-finite scores are
        dropped. The n are picked by partition (O(len(scores))), then only they are sorted."""
        rows, values = self._ranked_rows(pool, scores, n, exclude)
        return [Scored(str(self.item_ids[i]), float(s))
                for i, s in zip(rows, values, strict=True)]

    def _ranked_rows(self, pool: np.ndarray | None, scores: np.ndarray, n: int,
                     exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_ranked` as (item rows, float64 scores)."""
        return ranked_rows(pool, scores, n, exclude)

    # ---- the protocol ---------------------------------------------------------------------
    def recommend(self, user_id: str, n: int = 10, *, exclude_seen: bool = True,
                  candidates: Sequence[str] | None = None) -> list[Scored]:
        row = self._user_row(user_id)
        exclude = self._history(row)[0] if exclude_seen else np.empty(0, dtype=np.int64)
        pool = self._pool(candidates, exclude)
        if n <= 0 or pool is not None and pool.size == 0:
            return []
        return self._ranked(pool, self._user_scores_at(row, pool), n, exclude)

    def recommend_for_items(self, liked: Sequence[str], n: int = 10, *,
                            exclude: Sequence[str] = (),
                            candidates: Sequence[str] | None = None) -> list[Scored]:
        known = self._known_items(liked)
        drop = np.concatenate([known, self._known_items(exclude)])
        pool = self._pool(candidates, drop)
        if n <= 0 or pool is not None and pool.size == 0:
            return []
        return self._ranked(pool, self._liked_or_prior(known, pool), n, drop)

    def _liked_or_prior(self, known: np.ndarray, cols: np.ndarray | None) -> np.ndarray:
        if known.size == 0:
            prior = self.popularity if cols is None else self.popularity[cols]
            return prior.astype(np.float64)
        return self._fold_in_scores_at(known, self._liked_weights(known), cols)

    def score(self, candidates: Sequence[str], *, user_id: str | None = None,
              liked: Sequence[str] = ()) -> np.ndarray:
        return self.score_rows(self._rows_of(candidates), user_id=user_id, liked=liked)

    def score_rows(self, rows: np.ndarray, *, user_id: str | None = None,
                   liked: Sequence[str] = ()) -> np.ndarray:
        """:meth:`score` of the items at model ``rows`` (-1: unknown, scored ``-inf``)."""
        known = rows >= 0
        out = np.full(rows.shape[0], -np.inf, dtype=np.float64)
        if not known.any():
            return out
        if user_id is not None and self.knows_user(user_id):
            out[known] = self._user_scores_at(self._user_index[user_id], rows[known])
        else:
            out[known] = self._liked_or_prior(self._known_items(liked), rows[known])
        return out

    def similar_rows(self, item_ids: Sequence[str], n: int, candidates: np.ndarray, *,
                     unique: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`similar_items` restricted to the model rows ``candidates`` (-1 ignored;
        ``unique``: no row repeats), as (item rows, scores), best first."""
        seeds = self._known_items(item_ids)
        if seeds.size == 0 or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        pool = self._pool_rows(candidates, seeds, unique)
        if pool.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        return self._ranked_rows(pool, self._similar_scores_at(seeds, pool), n, seeds)

    def similar_items(self, item_ids: Sequence[str], n: int = 10, *,
                      candidates: Sequence[str] | None = None) -> list[Scored]:
        seeds = self._known_items(item_ids)
        if seeds.size == 0:
            return []
        pool = self._pool(candidates, seeds)
        if n <= 0 or pool is not None and pool.size == 0:
            return []
        return self._ranked(pool, self._similar_scores_at(seeds, pool), n, seeds)

    def explain(self, item_id: str, *, user_id: str | None = None,
                liked: Sequence[str] = (), n: int = 3) -> list[Scored]:
        target = self._item_index.get(item_id)
        if target is None or n <= 0:
            return []
        row: int | None = None
        if user_id is not None and self.knows_user(user_id):
            row = self._user_index[user_id]
            items, weights = self._history(row)
        else:
            items = self._known_items(liked)
            weights = self._liked_weights(items)
        keep = items != target
        items, weights = items[keep], weights[keep]
        if items.size == 0:
            return []
        contrib = np.asarray(self._contributions(target, items, weights, row), dtype=np.float64)
        positive = contrib > 0
        items, contrib = items[positive], contrib[positive]
        order = np.lexsort((items, -contrib))[:n]
        return [Scored(str(self.item_ids[i]), float(c))
                for i, c in zip(items[order], contrib[order], strict=True)]

    # ---- batch ranking (evaluation, benchmarks) ------------------------------------------
    def top_n_rows(self, rows: np.ndarray, n: int, *, exclude_seen: bool = True) -> np.ndarray:
        """(len(rows), n) item indices of the top-n for the users at ``rows``, best first
        (-1 pads when fewer items are left)."""
        return top_n_per_user(self._user_scores, self.user_items, rows, n,
                              exclude_seen=exclude_seen)

    def recommend_batch(self, user_ids: Sequence[str], n: int = 10, *,
                        exclude_seen: bool = True) -> list[list[str]]:
        """Top-n item ids for many known users at once (KeyError for an unknown one)."""
        rows = np.array([self._user_row(u) for u in user_ids], dtype=np.int64)
        top = self.top_n_rows(rows, n, exclude_seen=exclude_seen)
        return [[str(self.item_ids[i]) for i in line if i >= 0] for line in top]

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ui = self.user_items
        arrays = {
            "user_ids": self.user_ids.astype(str),
            "item_ids": self.item_ids.astype(str),
            "ui_data": ui.data, "ui_indices": ui.indices, "ui_indptr": ui.indptr,
            "ui_shape": np.asarray(ui.shape, dtype=np.int64),
            "popularity": self.popularity,
        }
        own = self._arrays()
        clash = set(own) & set(arrays)
        if clash:
            raise ValueError(f"array names reserved by the base class: {sorted(clash)}")
        arrays.update(own)
        write_model(directory, self.name, self.params, arrays)

    @classmethod
    def load(cls, directory: Path) -> Self:
        model = cls(**read_params(directory, cls.name))
        arrays = read_arrays(directory)
        model._set_ids(arrays.pop("user_ids").astype(str), arrays.pop("item_ids").astype(str))
        shape = tuple(int(v) for v in arrays.pop("ui_shape"))
        model.user_items = sp.csr_matrix(
            (arrays.pop("ui_data"), arrays.pop("ui_indices"), arrays.pop("ui_indptr")),
            shape=shape,
        )
        model.popularity = arrays.pop("popularity")
        model._restore(arrays)
        return model
