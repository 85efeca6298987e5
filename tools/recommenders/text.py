"""Text similarity over item text (title, categories, tags, description) for soft conditions.

:class:`TextIndex` is TF-IDF (scikit-learn's tokenizer and weighting), built at train time::

    TextIndex.build(engine).save(artifact / "text")
    index = TextIndex.load(artifact / "text")
    index.search("dark psychological thriller", n=50, within=candidate_ids)

On disk it is JSON (vocabulary, idf, settings, item ids) plus the sparse document matrix as
``.npz`` -- never pickle. The matrix is kept column-major (term -> documents), so a query
touches only the documents sharing one of its terms.

Dense embeddings are optional (the ``embeddings`` extra): :func:`dense_model` loads a locally
installed sentence-transformers model with ``local_files_only=True`` (never a download) and
returns ``None`` when the package or the model is absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import Engine, select

from tools.catalog.models import Category, Item, ItemCategory, ItemTag, Tag
from tools.recommenders.base import Scored
from tools.recommenders.common import aligned_rows

FORMAT_VERSION = 1
META_FILE = "text.json"
MATRIX_FILE = "matrix.npz"
DENSE_FILE = "dense.npy"
DENSE_WEIGHT = 0.5  # share of the dense cosine in the blended score
_CHUNK = 50_000


def _documents(engine: Engine) -> Iterator[tuple[str, str]]:
    """(item_id, text) per item: title, categories, tags (repeated by weight), description."""
    with engine.connect() as conn:
        cats: dict[str, list[str]] = {}
        for item_id, name in conn.execute(
                select(ItemCategory.item_id, Category.name)
                .join(Category, Category.id == ItemCategory.category_id)):
            cats.setdefault(item_id, []).append(name)
        tags: dict[str, list[str]] = {}
        for item_id, name in conn.execute(
                select(ItemTag.item_id, Tag.name).join(Tag, Tag.id == ItemTag.tag_id)
                .order_by(ItemTag.item_id, ItemTag.count.desc(), Tag.name)):
            bucket = tags.setdefault(item_id, [])
            if len(bucket) < 30:
                bucket.append(name)
        result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(
            select(Item.item_id, Item.title, Item.description).order_by(Item.item_id))
        for item_id, title, description in result:
            parts = [title, " ".join(c.replace("-", " ") for c in cats.get(item_id, ())),
                     " ".join(tags.get(item_id, ())), description or ""]
            yield item_id, " ".join(p for p in parts if p)


class TextIndex:
    """TF-IDF over item text; see the module docstring."""

    def __init__(self, item_ids: np.ndarray, vocabulary: dict[str, int], idf: np.ndarray,
                 matrix: sp.csc_matrix, params: dict[str, Any],
                 dense: np.ndarray | None = None, encoder: Any = None) -> None:
        self.item_ids = item_ids
        self.dense = dense  # (items, dim) unit vectors, or None
        self.encoder = encoder  # the sentence-transformers model that made them
        self.vocabulary = vocabulary
        self.idf = idf
        self.matrix = matrix  # documents x terms, rows l2-normalised, CSC
        self.params = params
        self._index = {i: k for k, i in enumerate(item_ids.tolist())}
        self._analyzer = TfidfVectorizer(**self._vectorizer_params(params)).build_analyzer()

    @staticmethod
    def _vectorizer_params(params: dict[str, Any]) -> dict[str, Any]:
        return {"ngram_range": tuple(params.get("ngram_range", (1, 2))),
                "stop_words": params.get("stop_words", "english"),
                "sublinear_tf": bool(params.get("sublinear_tf", True)),
                "strip_accents": "unicode", "lowercase": True}

    def __len__(self) -> int:
        return int(self.item_ids.shape[0])

    @classmethod
    def build(cls, engine: Engine, *, min_df: int = 2, max_features: int = 200_000,
              ngram_range: tuple[int, int] = (1, 2), dense_model_name: str | None = None,
              ) -> TextIndex:
        """TF-IDF over every item; with ``dense_model_name`` (and that model installed
        locally, see :func:`dense_model`) also dense embeddings, blended into the scores.
        An absent model is skipped: the index is TF-IDF only."""
        ids, docs = [], []
        for item_id, doc in _documents(engine):
            ids.append(item_id)
            docs.append(doc)
        params: dict[str, Any] = {"ngram_range": list(ngram_range), "stop_words": "english",
                                  "sublinear_tf": True, "min_df": min_df,
                                  "max_features": max_features}
        item_ids = np.array(ids, dtype=str)
        if not docs:
            return cls(item_ids, {}, np.empty(0), sp.csc_matrix((0, 0)), params)
        vec = TfidfVectorizer(min_df=min(min_df, len(docs)), max_features=max_features,
                              dtype=np.float32, **cls._vectorizer_params(params))
        try:
            matrix = vec.fit_transform(docs)
        except ValueError:  # every document empty after stop words
            return cls(item_ids, {}, np.empty(0), sp.csc_matrix((len(ids), 0)), params)
        vocab = {str(t): int(k) for t, k in vec.vocabulary_.items()}
        dense = encoder = None
        if dense_model_name:
            encoder = dense_model(dense_model_name)
            if encoder is not None:
                dense = np.asarray(encoder.encode(docs, batch_size=256,
                                                  normalize_embeddings=True), dtype=np.float32)
                params["dense_model"] = dense_model_name
        return cls(item_ids, vocab, vec.idf_.astype(np.float32), matrix.tocsc(), params,
                   dense, encoder)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        m = self.matrix.tocsc()
        np.savez(directory / MATRIX_FILE, data=m.data, indices=m.indices, indptr=m.indptr,
                 shape=np.asarray(m.shape, dtype=np.int64), idf=self.idf,
                 item_ids=self.item_ids.astype(str))
        meta = {"format": FORMAT_VERSION, "kind": "tfidf", "params": self.params,
                "vocabulary": self.vocabulary}
        (directory / META_FILE).write_text(json.dumps(meta, sort_keys=True))
        if self.dense is not None:
            np.save(directory / DENSE_FILE, self.dense, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> TextIndex:
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("kind") != "tfidf":
            raise ValueError(f"{directory}: not a TF-IDF text index of format {FORMAT_VERSION}")
        with np.load(directory / MATRIX_FILE, allow_pickle=False) as z:
            shape = tuple(int(v) for v in z["shape"])
            matrix = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
            idf, item_ids = z["idf"], z["item_ids"].astype(str)
        params = meta["params"]
        dense = encoder = None
        if params.get("dense_model") and (directory / DENSE_FILE).exists():
            encoder = dense_model(params["dense_model"])  # None: model gone, TF-IDF only
            if encoder is not None:
                dense = np.load(directory / DENSE_FILE, allow_pickle=False)
        return cls(item_ids, {str(k): int(v) for k, v in meta["vocabulary"].items()}, idf,
                   matrix, params, dense, encoder)

    def query_vector(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(term columns, weights) of the l2-normalised TF-IDF vector of ``query``."""
        counts: dict[int, int] = {}
        for token in self._analyzer(query[:2000]):
            col = self.vocabulary.get(token)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        cols = np.fromiter(counts, dtype=np.int64)
        tf = np.fromiter(counts.values(), dtype=np.float64)
        if self.params.get("sublinear_tf", True):
            tf = 1.0 + np.log(tf)
        w = tf * self.idf[cols]
        return cols, w / np.linalg.norm(w)

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of every item to ``query`` (0 where nothing is shared)."""
        cols, w = self.query_vector(query)
        if cols.size == 0:
            sparse = np.zeros(len(self), dtype=np.float64)
        else:
            sparse = np.asarray(self.matrix[:, cols] @ w, dtype=np.float64).ravel()
        if self.dense is None or self.encoder is None:
            return sparse
        q = np.asarray(self.encoder.encode([query[:2000]], normalize_embeddings=True),
                       dtype=np.float32)[0]
        dense: np.ndarray = np.clip(self.dense @ q, 0.0, None)
        return DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * sparse

    def search(self, query: str, n: int = 10,
               within: Sequence[str] | None = None) -> list[Scored]:
        """The ``n`` items most similar to ``query`` (only those sharing a term), best first;
        restricted to ``within`` when given. Ties go to catalog order."""
        rows = None
        if within is not None:
            rows = np.fromiter((self._index[i] for i in within if i in self._index),
                               dtype=np.int64)
        rows, sub = self.search_rows(query, n, rows)
        return [Scored(str(self.item_ids[r]), float(s))
                for r, s in zip(rows.tolist(), sub.tolist(), strict=True)]

    def search_rows(self, query: str, n: int = 10, within: np.ndarray | None = None,
                    scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` over the index's rows: (rows, scores), best first; ``within``
        (rows, -1 ignored) restricts it, ``scores`` passes :meth:`scores` already computed."""
        if scores is None:
            scores = self.scores(query)
        rows = within[within >= 0] if within is not None else np.flatnonzero(scores > 0)
        sub = scores[rows]
        positive = sub > 0
        rows, sub = rows[positive], sub[positive]
        if n < rows.shape[0]:
            part = np.argpartition(-sub, n - 1)[:n]
            rows, sub = rows[part], sub[part]
        order = np.lexsort((rows, -sub))
        return rows[order], sub[order]

    def catalog_rows(self, universe_ids: np.ndarray, index: Mapping[str, int]
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(to_index, from_index) row maps against the catalog's rows (None: same order)."""
        return aligned_rows(self, self.item_ids, self._index, universe_ids)


def dense_model(name: str, cache_dir: Path | None = None) -> Any:
    """A locally installed sentence-transformers model, or ``None`` (package or model
    missing). Never downloads: ``local_files_only=True``."""
    try:
        from sentence_transformers import (
            SentenceTransformer,  # deferred: optional dependency (sentence-transformers)
        )
    except ImportError:
        return None
    try:
        return SentenceTransformer(name, cache_folder=str(cache_dir) if cache_dir else None,
                                   local_files_only=True)
    except (OSError, ValueError):
        return None
