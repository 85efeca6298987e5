"""The SQL catalog (:class:`SqlCatalog`): the read side every tool, the agent and the API
use, on SQLite or PostgreSQL. It implements :class:`tools.catalog.protocol.Catalog`.

Synchronous (SQLAlchemy Core selects; async callers use a thread). Whatever the model
supplies only ever reaches SQL as a bound parameter. The catalog is read-only while serving,
so what is static per process is cached on first use: the numeric columns and category
membership as numpy arrays (:mod:`tools.catalog.columns`), the trigram index for fuzzy
lookup in a large catalog, recently read items and histories, the top tags.
:meth:`SqlCatalog.reload` drops the caches (after an ingest).

This module holds the caches and the answers; the work is done by one module per job:
:mod:`~tools.catalog.title_match` (names -> items), :mod:`~tools.catalog.filtering` and
:mod:`~tools.catalog.filter_sql` (structured filters, vectorised and in SQL),
:mod:`~tools.catalog.ranking` (popularity), :mod:`~tools.catalog.vocabulary` and
:mod:`~tools.catalog.items` (per-item reads). The values (:class:`ItemFilter`,
:class:`ItemView`, ...) live in :mod:`tools.catalog.values` and are re-exported here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from rapidfuzz import fuzz, process
from sqlalchemy import Engine

from tools.catalog import filter_sql, ranking, title_match
from tools.catalog.columns import Columns, load_columns, rows_of
from tools.catalog.filtering import numpy_mask
from tools.catalog.items import read_history, read_item_views
from tools.catalog.text import normalize_title
from tools.catalog.title_match import (
    FUZZY_SHORTLIST,
    LOOKUP_THRESHOLD,
    PREFIX_SCORE,
    TRIGRAM_BUCKETS,
)
from tools.catalog.values import ItemFilter, ItemView, Match, UnknownCategoryError, Vocabulary
from tools.catalog.vocabulary import build_vocabulary, read_tag_categories, read_top_tags

__all__ = [
    "FUZZY_SCAN_LIMIT", "FUZZY_SHORTLIST", "HISTORY_CACHE", "LOOKUP_THRESHOLD", "PREFIX_SCORE",
    "TAG_CACHE", "TRIGRAM_BUCKETS", "VIEW_CACHE", "Columns", "ItemFilter", "ItemView", "Match",
    "SqlCatalog", "UnknownCategoryError", "Vocabulary",
]

FUZZY_SCAN_LIMIT = 50_000  # above this many titles, fuzzy matching goes through trigrams
VIEW_CACHE = 20_000  # item views kept per process
HISTORY_CACHE = 2_000  # user histories kept per process
TAG_CACHE = 256  # tag sets whose items are kept per process

FilterMethod = Literal["auto", "numpy", "sql"]


class SqlCatalog:
    """Read access to the catalog (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cols: Columns | None = None
        self._top_tags: dict[int, list[str]] = {}
        self._views: OrderedDict[tuple[str, int], ItemView] = OrderedDict()
        self._histories: OrderedDict[tuple[str, int], list[tuple[str, float | None]]] = \
            OrderedDict()

    # ---- caches --------------------------------------------------------------------------
    def reload(self) -> None:
        """Forget every cache (call after the catalog changed)."""
        with self._lock:
            self._cols = None
            self._top_tags = {}
            self._views.clear()
            self._histories.clear()

    @property
    def columns(self) -> Columns:
        """The cached static columns (read on first use)."""
        cols = self._cols
        if cols is None:
            with self._lock:
                if self._cols is None:
                    self._cols = load_columns(self.engine)
                cols = self._cols
        return cols

    def warm(self) -> None:
        """Build the caches now (start-up) instead of on the first request."""
        if len(self.columns.norms) > FUZZY_SCAN_LIMIT:
            self._trigrams()

    # ---- small reads -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.columns.ids)

    def has(self, item_id: str) -> bool:
        return item_id in self.columns.index

    def known(self, ids: Iterable[str]) -> list[str]:
        index = self.columns.index
        return [i for i in ids if i in index]

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        cols = self.columns
        out = {}
        for i in ids:
            k = cols.index.get(i)
            if k is not None:
                out[i] = cols.titles[k]
        return out

    def years(self, ids: Sequence[str]) -> dict[str, int]:
        """The known years of ``ids``."""
        cols = self.columns
        out = {}
        for i in ids:
            row = cols.index.get(i)
            if row is not None and not np.isnan(cols.year[row]):
                out[i] = int(cols.year[row])
        return out

    def label(self, item_id: str) -> str:
        """"Heat (1995)" -- title with year, for short summaries."""
        cols = self.columns
        k = cols.index.get(item_id)
        if k is None:
            return item_id
        y = cols.year[k]
        return cols.titles[k] if np.isnan(y) else f"{cols.titles[k]} ({int(y)})"

    def categories(self) -> list[str]:
        return list(self.columns.cat_names)

    def item_categories(self, item_id: str) -> list[str]:
        cols = self.columns
        k = cols.index.get(item_id)
        if k is None:
            return []
        row = cols.cats.indices[cols.cats.indptr[k]:cols.cats.indptr[k + 1]]
        return [cols.cat_names[c] for c in sorted(row)]

    def resolve_categories(self, names: Sequence[str]) -> list[str]:
        """Canonical names for ``names`` (case-insensitive); :class:`UnknownCategoryError`
        listing the closest valid values for any that is not a category."""
        cols = self.columns
        out, unknown = [], {}
        for name in names:
            c = cols.cat_lookup.get(name.strip().casefold())
            if c is None:
                close = process.extract(name.strip().casefold(), list(cols.cat_lookup),
                                        scorer=fuzz.WRatio, limit=3)
                unknown[name] = [cols.cat_names[cols.cat_lookup[m[0]]] for m in close]
            else:
                out.append(cols.cat_names[c])
        if unknown:
            raise UnknownCategoryError(unknown)
        return out

    # ---- tags and the vocabulary -----------------------------------------------------------
    def top_tags(self, n: int = 50) -> list[str]:
        cached = self._top_tags.get(n)
        if cached is not None:
            return cached
        names = read_top_tags(self.engine, n)
        self._top_tags[n] = names
        return names

    def tag_categories(self, tags: Sequence[str]) -> dict[str, tuple[int, dict[str, int]]]:
        """For each tag: how many items carry it, and how many of those are in each category
        (what the offline planner learns word -> category associations from)."""
        return read_tag_categories(self.engine, self.columns, tags)

    def vocabulary(self, n_tags: int = 200) -> Vocabulary:
        tags = self.top_tags(n_tags)
        return build_vocabulary(self.columns, tags, self.tag_categories(tags))

    def items_with_tags(self, tags: Sequence[str]) -> set[str]:
        """Ids of the items carrying every one of ``tags`` (names compared case-blind)."""
        return filter_sql.items_with_tags(self.engine, tags)

    # ---- items and histories ----------------------------------------------------------------
    def get_items(self, ids: Sequence[str], *, n_tags: int = 5) -> dict[str, ItemView]:
        """Facts about ``ids`` (unknown ids are absent), in the order given. Recently read
        items come from a bounded per-process cache (the catalog is read-only while serving)."""
        known = [i for i in dict.fromkeys(ids) if i in self.columns.index]
        cached: dict[str, ItemView] = {}
        with self._lock:
            for i in known:
                view = self._views.get((i, n_tags))
                if view is not None:
                    self._views.move_to_end((i, n_tags))
                    cached[i] = view
        missing = [i for i in known if i not in cached]
        fresh = read_item_views(self.engine, missing, n_tags, self.item_categories) \
            if missing else {}
        if fresh:
            with self._lock:
                for i, view in fresh.items():
                    self._views[(i, n_tags)] = view
                while len(self._views) > VIEW_CACHE:
                    self._views.popitem(last=False)
        return {i: cached.get(i) or fresh[i] for i in known if i in cached or i in fresh}

    def user_history(self, user_id: str, limit: int = 500) -> list[tuple[str, float | None]]:
        """The user's interactions, newest first: ``[(item_id, rating), ...]`` (cached per
        process, bounded)."""
        key = (user_id, limit)
        with self._lock:
            hit = self._histories.get(key)
            if hit is not None:
                self._histories.move_to_end(key)
                return list(hit)
        history = read_history(self.engine, user_id, limit)
        with self._lock:
            self._histories[key] = history
            while len(self._histories) > HISTORY_CACHE:
                self._histories.popitem(last=False)
        return list(history)

    # ---- names -> items ------------------------------------------------------------------------
    def lookup(self, name: str, limit: int = 3,
               threshold: float = LOOKUP_THRESHOLD) -> list[Match]:
        """Catalog items a typed name refers to, best first; ``[]`` means "not found".

        Tolerates case, punctuation, accents, moved articles ("Matrix, The"), a present or
        missing year, and small typos. A year in the name ("Heat 1995", "Heat (1995)")
        prefers the item of that year; among equal titles the more popular wins. Nothing
        scoring below ``threshold`` is returned (no guessing a made-up title)."""
        text, year = title_match.split_year(name)
        norm = normalize_title(text)
        if not norm:
            return []
        cols = self.columns
        scored = title_match.title_candidates(cols, norm, threshold, self._fuzzy)
        return title_match.best_matches(cols, scored, year, threshold, limit)

    def search(self, q: str, limit: int = 20) -> list[Match]:
        """Item search for the API: titles containing / resembling ``q``; empty ``q`` gives
        the most popular items."""
        limit = max(1, min(limit, 100))
        norm = normalize_title(q[:300]) if q else ""
        return title_match.search_matches(self.columns, norm, limit, self._fuzzy)

    def _fuzzy(self, norm: str, scorer: Any, limit: int,
               cutoff: float) -> list[tuple[str, float, int]]:
        """rapidfuzz over the normalized titles: all of them in a small catalog; in a large
        one only the ``FUZZY_SHORTLIST`` titles sharing the most character trigrams with
        ``norm`` (a typo leaves most trigrams intact), so the cost stays bounded."""
        cols = self.columns
        if len(cols.norms) <= FUZZY_SCAN_LIMIT:
            return title_match.scan(norm, cols.norms, scorer, limit, cutoff)
        shortlist = title_match.trigram_shortlist(self._trigrams(), norm, FUZZY_SHORTLIST)
        choices = {int(k): cols.norms[k] for k in shortlist.tolist()}
        return title_match.scan(norm, choices, scorer, limit, cutoff)

    def _trigrams(self) -> sp.csc_matrix:
        """titles x hashed character trigrams (bool), built once, vectorised."""
        cols = self.columns
        grams = cols.extra.get("trigrams")
        if grams is not None:
            return grams
        with self._lock:
            grams = cols.extra.get("trigrams")
            if grams is None:
                grams = cols.extra["trigrams"] = title_match.trigram_matrix(cols.norms)
        return grams

    # ---- structured filters ------------------------------------------------------------------
    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """Rows (positions in :attr:`columns`) of the known ``ids``, in the order given."""
        return rows_of(self.columns, ids)

    def canonical(self, f: ItemFilter) -> ItemFilter:
        """Resolve category names (raises :class:`UnknownCategoryError`)."""
        return f.model_copy(update={
            "categories_any": self.resolve_categories(f.categories_any),
            "categories_all": self.resolve_categories(f.categories_all),
            "categories_none": self.resolve_categories(f.categories_none),
        })

    def filter_ids(self, f: ItemFilter, within: Sequence[str] | None = None,
                   *, method: FilterMethod = "auto") -> list[str]:
        """Ids passing ``f``: in ``within``'s order when given, else most popular first.

        ``auto`` evaluates vectorised over the cached columns, and in SQL when attribute
        conditions are present (attributes are not cached). Both give the same result."""
        rows = None if within is None else self.rows(within)
        ids: list[str] = self.columns.ids[self.filter_rows(f, rows, method=method)].tolist()
        return ids

    def filter_rows(self, f: ItemFilter, within: np.ndarray | None = None,
                    *, method: FilterMethod = "auto") -> np.ndarray:
        """:meth:`filter_ids` over rows: the rows of ``within`` passing ``f`` (its order),
        or with ``within=None`` every passing row, most popular first."""
        if within is None:
            keep = self.filter_mask(f, None, method=method)
            cols = self.columns
            passing: np.ndarray = cols.pop_order[keep[cols.pop_order]]
            return passing
        kept: np.ndarray = within[self.filter_mask(f, within, method=method)]
        return kept

    def filter_mask(self, f: ItemFilter, within: np.ndarray | None = None,
                    *, method: FilterMethod = "auto") -> np.ndarray:
        """Boolean mask: which of the rows ``within`` (None: every row, storage order)
        pass ``f``."""
        f = self.canonical(f)
        if method == "sql" or (method == "auto" and f.attributes):
            return filter_sql.sql_mask(self.engine, self.columns, f, within)
        return numpy_mask(self.columns, f, within, self._tag_rows)

    def filter_statement(self, f: ItemFilter, within: Sequence[str] | None = None) -> Any:
        """``f`` compiled to a SQLAlchemy select of item ids (bound parameters only).
        Category names must already be canonical (see :meth:`filter_ids`)."""
        return filter_sql.filter_statement(self.columns, f, within)

    def _tag_rows(self, tags: Sequence[str]) -> np.ndarray:
        """Sorted rows of the items carrying every one of ``tags`` (per-process LRU: tags
        are not among the cached columns, so one SQL query per tag set)."""
        key = tuple(sorted(dict.fromkeys(t.casefold() for t in tags)))
        cols = self.columns
        cache: OrderedDict[tuple[str, ...], np.ndarray] = cols.extra.setdefault(
            "tag_rows", OrderedDict())
        with self._lock:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                return hit
        rows = np.unique(self.rows(self.items_with_tags(list(key))))
        with self._lock:
            cache[key] = rows
            while len(cache) > TAG_CACHE:
                cache.popitem(last=False)
        return rows

    # ---- ranking (vectorised) ----------------------------------------------------------------
    def popularity_score_rows(self, rows: np.ndarray,
                              by: ranking.RankBy = "popularity") -> np.ndarray:
        """Popularity, or the shrunk rating average, of the items at ``rows``."""
        return ranking.popularity_score_rows(self.columns, rows, by)

    def popularity_scores(self, ids: Sequence[str] | None,
                          by: ranking.RankBy = "popularity",
                          ) -> tuple[list[str], np.ndarray]:
        """(ids, scores) for ``ids`` (None = every item): popularity, or a rating average
        shrunk toward the catalog mean so a single 5-star rating does not win."""
        cols = self.columns
        rows = np.arange(len(cols.ids)) if ids is None else self.rows(ids)
        return cols.ids[rows].tolist(), self.popularity_score_rows(rows, by)

    def top_popular(self, n: int, by: ranking.RankBy = "popularity",
                    exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
        """The ``n`` best items of the whole catalog by ``by``, best first (vectorised:
        only the winners become Python strings)."""
        rows, scores = self.top_popular_rows(n, by, self.rows(list(exclude)))
        return self.columns.ids[rows].tolist(), scores

    def top_popular_rows(self, n: int, by: ranking.RankBy = "popularity",
                         skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_popular` as (rows, scores), leaving out the rows ``skip``."""
        return ranking.top_popular_rows(self.columns, n, by, skip)
