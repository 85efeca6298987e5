"""The catalog query layer every tool (and the agent, and the API) reads through.

Synchronous (SQLAlchemy Core selects; async callers use a thread). Whatever the model
supplies only ever reaches SQL as a bound parameter. The catalog is read-only while serving,
so what is static per process is cached on first use: the numeric columns and category
membership as numpy arrays (structured filters over a large candidate set run vectorised
over them instead of shipping giant ``IN`` lists), the normalized titles for fuzzy lookup,
the vocabulary. :meth:`Catalog.reload` drops the caches (after an ingest).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process
from sqlalchemy import Engine, and_, exists, func, not_, select

from tools.catalog.models import Category, Interaction, Item, ItemCategory, ItemTag, Tag
from tools.catalog.text import normalize_title

LOOKUP_THRESHOLD = 86.0  # below this a name is "not found" (0-100 scale)
FUZZY_SCAN_LIMIT = 50_000  # above this many titles, fuzzy matching goes through trigrams
FUZZY_SHORTLIST = 300  # titles sharing the most trigrams that rapidfuzz then scores
TRIGRAM_BUCKETS = 1 << 20
PREFIX_SCORE = 90.0  # the name is the first words of a title ("Star Wars")
VIEW_CACHE = 20_000  # item views kept per process
HISTORY_CACHE = 2_000  # user histories kept per process
TAG_CACHE = 256  # tag sets whose items are kept per process
_SQL_IN_LIMIT = 1000  # a `within` longer than this is intersected in Python, not IN (...)
_YEAR_IN_QUERY = re.compile(r"(?:\(\s*|\s)((?:18|19|20)\d{2})\s*\)?\s*$")


def _trigram_codes(text: str) -> np.ndarray:
    """Hashed byte trigrams of `` text `` (padded so word starts and ends count)."""
    b = np.frombuffer(f" {text} ".encode(), dtype=np.uint8).astype(np.int64)
    if b.size < 3:
        return np.empty(0, dtype=np.int64)
    codes = (b[:-2] << 16) | (b[1:-1] << 8) | b[2:]
    return (codes * 2654435761) % TRIGRAM_BUCKETS


def _trigram_matrix(norms: Sequence[str], width: int = 64) -> sp.csc_matrix:
    """titles x trigram buckets, computed over a fixed-width byte matrix (no Python loop
    per trigram): each title truncated to ``width`` bytes."""
    n = len(norms)
    raw = np.zeros((n, width + 2), dtype=np.uint8)
    lengths = np.zeros(n, dtype=np.int64)
    for k, norm in enumerate(norms):
        data = f" {norm} ".encode()[:width + 2]
        raw[k, :len(data)] = np.frombuffer(data, dtype=np.uint8)
        lengths[k] = len(data)
    b = raw.astype(np.int64)
    codes = (((b[:, :-2] << 16) | (b[:, 1:-1] << 8) | b[:, 2:]) * 2654435761) % TRIGRAM_BUCKETS
    valid = np.arange(width)[None, :] < (lengths[:, None] - 2)
    rows = np.repeat(np.arange(n, dtype=np.int64), valid.sum(axis=1))
    key = np.unique(codes[valid] * max(n, 1) + rows)  # sorted by (bucket, row), deduplicated
    buckets, rows = np.divmod(key, max(n, 1))
    indptr = np.zeros(TRIGRAM_BUCKETS + 1, dtype=np.int64)
    np.cumsum(np.bincount(buckets, minlength=TRIGRAM_BUCKETS), out=indptr[1:])
    return sp.csc_matrix((np.ones(rows.shape[0], dtype=bool), rows.astype(np.int32), indptr),
                         shape=(n, TRIGRAM_BUCKETS))


class UnknownCategoryError(ValueError):
    """A filter named categories the catalog does not have (with the closest ones)."""

    def __init__(self, unknown: dict[str, list[str]]) -> None:
        self.unknown = unknown
        parts = [f"{name!r} (closest: {', '.join(close) or 'none'})"
                 for name, close in unknown.items()]
        super().__init__("unknown categor" + ("y " if len(unknown) == 1 else "ies ")
                         + "; ".join(parts))


class ItemFilter(BaseModel):
    """Hard conditions on items. Category names are matched case-insensitively."""

    categories_any: list[str] = Field(default_factory=list)
    categories_all: list[str] = Field(default_factory=list)
    categories_none: list[str] = Field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    min_rating: float | None = None  # average rating, catalog scale
    min_rating_count: int | None = None
    popularity_pct_min: float | None = Field(default=None, ge=0, le=100)  # 90 = top 10 %
    popularity_pct_max: float | None = Field(default=None, ge=0, le=100)  # 50 = bottom half
    exclude_ids: list[str] = Field(default_factory=list)
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)
    tags_all: list[str] = Field(default_factory=list)  # items carrying every one of these tags

    def is_empty(self) -> bool:
        return not any((self.categories_any, self.categories_all, self.categories_none,
                        self.tags_all,
                        self.year_min is not None, self.year_max is not None,
                        self.min_rating is not None, self.min_rating_count is not None,
                        self.popularity_pct_min is not None,
                        self.popularity_pct_max is not None,
                        self.exclude_ids, self.attributes))

    def describe(self) -> str:
        """Short human text ("Comedy; not Horror; 1990-1999; rating>=3.5")."""
        parts = []
        if self.categories_any:
            parts.append(" or ".join(self.categories_any))
        if self.categories_all:
            parts.append(" and ".join(self.categories_all))
        if self.categories_none:
            parts.append("not " + "/".join(self.categories_none))
        if self.year_min is not None or self.year_max is not None:
            parts.append(f"{self.year_min or ''}-{self.year_max or ''}")
        if self.min_rating is not None:
            parts.append(f"rating>={self.min_rating:g}")
        if self.min_rating_count is not None:
            parts.append(f"ratings>={self.min_rating_count}")
        if self.popularity_pct_min is not None:
            parts.append(f"popularity top {100 - self.popularity_pct_min:g}%")
        if self.popularity_pct_max is not None:
            parts.append(f"popularity bottom {self.popularity_pct_max:g}%")
        for key, value in self.attributes.items():
            parts.append(f"{key}={value}")
        if self.tags_all:
            parts.append("tagged " + " and ".join(self.tags_all))
        if self.exclude_ids:
            parts.append(f"excluding {len(self.exclude_ids)}")
        return "; ".join(parts) or "no condition"


@dataclass(frozen=True)
class ItemView:
    item_id: str
    title: str
    year: int | None
    categories: list[str]
    tags: list[str]
    rating_avg: float | None
    rating_count: int
    popularity: float
    description: str | None
    attributes: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Match:
    """One candidate for a name: ``score`` 0-100 (100 = the normalized titles are equal)."""

    item_id: str
    title: str
    year: int | None
    score: float


@dataclass(frozen=True)
class Vocabulary:
    """What the offline planner reads messages against."""

    titles: dict[str, str]  # normalized title -> item_id (the most popular one per title)
    categories: list[str]
    tags: list[str]
    year_min: int | None
    year_max: int | None
    # tag -> (items tagged, {category: items tagged in that category}); see tag_categories()
    tag_categories: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)
    category_sizes: dict[str, int] = field(default_factory=dict)
    title_years: dict[str, list[int]] = field(default_factory=dict)  # normalized title -> years
    # each distinct set of categories an item has -> (items with it, their known years sorted)
    category_sets: dict[frozenset[str], tuple[int, tuple[int, ...]]] = field(
        default_factory=dict)


@dataclass
class _Columns:
    """Per-process numpy copy of the static columns (row = position in ``ids``)."""

    ids: np.ndarray  # str
    index: dict[str, int]
    titles: list[str]
    norms: list[str]
    by_norm: dict[str, list[int]]
    sorted_norms: list[str]  # for prefix search
    sorted_rows: np.ndarray
    year: np.ndarray  # float64, NaN = unknown
    rating_avg: np.ndarray  # float64, NaN = unrated
    rating_count: np.ndarray  # int64
    popularity: np.ndarray  # float64
    pop_pct: np.ndarray  # float64, 0-100 percentile rank of popularity
    pop_order: np.ndarray  # rows by popularity descending
    cat_names: list[str]
    cat_ids: list[int]  # database id per column of ``cats``
    cat_lookup: dict[str, int]  # casefolded name -> column
    cats: sp.csr_matrix  # bool, items x categories
    extra: dict[str, Any] = field(default_factory=dict)


def _attribute_conditions(attributes: dict[str, str | int | float | bool]) -> list[Any]:
    """Attribute equality conditions as SQL conditions on the JSON column, by value type."""
    conds: list[Any] = []
    for key, value in attributes.items():
        path = Item.attributes[key]
        if isinstance(value, bool):
            conds.append(path.as_boolean() == value)
        elif isinstance(value, int | float):
            conds.append(path.as_float() == float(value))
        else:
            conds.append(path.as_string() == value)
    return conds


class Catalog:
    """Read access to the catalog (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cols: _Columns | None = None
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
    def columns(self) -> _Columns:
        cols = self._cols
        if cols is None:
            with self._lock:
                if self._cols is None:
                    self._cols = self._load_columns()
                cols = self._cols
        return cols

    def warm(self) -> None:
        """Build the caches now (start-up) instead of on the first request."""
        if len(self.columns.norms) > FUZZY_SCAN_LIMIT:
            self._trigrams()

    def _load_columns(self) -> _Columns:
        stmt = select(Item.item_id, Item.title, Item.title_norm, Item.year, Item.rating_avg,
                      Item.rating_count, Item.popularity).order_by(Item.item_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            cat_rows = conn.execute(
                select(Category.id, Category.name).order_by(Category.name)).all()
            links = conn.execute(select(ItemCategory.item_id, ItemCategory.category_id)).all()
        n = len(rows)
        ids = np.array([r[0] for r in rows], dtype=str) if n else np.empty(0, dtype=str)
        index = {r[0]: k for k, r in enumerate(rows)}
        titles = [r[1] for r in rows]
        norms = [r[2] or normalize_title(r[1]) for r in rows]
        by_norm: dict[str, list[int]] = {}
        for k, norm in enumerate(norms):
            by_norm.setdefault(norm, []).append(k)
        order = sorted(range(n), key=norms.__getitem__)
        sorted_norms = [norms[k] for k in order]
        sorted_rows = np.asarray(order, dtype=np.int64)
        year = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
        rating_avg = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64)
        rating_count = np.array([r[5] or 0 for r in rows], dtype=np.int64)
        popularity = np.array([r[6] or 0.0 for r in rows], dtype=np.float64)
        if n:
            # percentile rank: ties share the lowest rank, the most popular item is ~100
            sorted_pop = np.sort(popularity)
            pop_pct = 100.0 * np.searchsorted(sorted_pop, popularity, side="right") / n
        else:
            pop_pct = np.empty(0)
        pop_order = np.lexsort((np.arange(n), -popularity))
        cat_names = [r[1] for r in cat_rows]
        cat_ids = [r[0] for r in cat_rows]
        col_of = {cid: c for c, cid in enumerate(cat_ids)}
        r_idx = np.fromiter((index.get(i, -1) for i, _ in links), dtype=np.int64,
                            count=len(links))
        c_idx = np.fromiter((col_of.get(c, -1) for _, c in links), dtype=np.int64,
                            count=len(links))
        ok = (r_idx >= 0) & (c_idx >= 0)
        cats = sp.csr_matrix((np.ones(int(ok.sum()), dtype=bool), (r_idx[ok], c_idx[ok])),
                             shape=(n, len(cat_names)), dtype=bool)
        return _Columns(ids, index, titles, norms, by_norm, sorted_norms, sorted_rows, year,
                        rating_avg, rating_count,
                        popularity, pop_pct, pop_order, cat_names, cat_ids,
                        {name.casefold(): c for c, name in enumerate(cat_names)}, cats)

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

    def top_tags(self, n: int = 50) -> list[str]:
        cached = self._top_tags.get(n)
        if cached is not None:
            return cached
        stmt = (select(Tag.name).join(ItemTag, ItemTag.tag_id == Tag.id).group_by(Tag.name)
                .order_by(func.sum(ItemTag.count).desc(), Tag.name).limit(n))
        with self.engine.connect() as conn:
            names = list(conn.execute(stmt).scalars())
        self._top_tags[n] = names
        return names

    def vocabulary(self, n_tags: int = 200) -> Vocabulary:
        cols = self.columns
        titles: dict[str, str] = {}
        for k in cols.pop_order.tolist():  # most popular first wins a shared title
            titles.setdefault(cols.norms[k], str(cols.ids[k]))
        years = cols.year[~np.isnan(cols.year)]
        title_years: dict[str, list[int]] = {}
        for k, key in enumerate(cols.norms):
            if not np.isnan(cols.year[k]):
                title_years.setdefault(key, []).append(int(cols.year[k]))
        tags = self.top_tags(n_tags)
        sizes = np.asarray(cols.cats.sum(axis=0)).ravel()
        return Vocabulary(
            titles=titles, categories=self.categories(), tags=tags,
            year_min=int(years.min()) if years.size else None,
            year_max=int(years.max()) if years.size else None,
            tag_categories=self.tag_categories(tags),
            category_sizes={name: int(sizes[c]) for c, name in enumerate(cols.cat_names)},
            title_years=title_years,
            category_sets=self._category_sets(),
        )

    def _category_sets(self) -> dict[frozenset[str], tuple[int, tuple[int, ...]]]:
        """Each distinct category set among the items, with how many items have it and their
        known years (sorted): enough to tell whether a filter on categories and years can
        match anything without reading the items. Empty past 62 categories (bit masks)."""
        cols = self.columns
        n_cats = len(cols.cat_names)
        if n_cats > 62 or not cols.ids.size:
            return {}
        bits = np.left_shift(np.int64(1), np.arange(n_cats, dtype=np.int64))
        masks = cols.cats.astype(np.int64) @ bits
        uniq, inverse = np.unique(np.asarray(masks).ravel(), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(uniq.size + 1))
        out: dict[frozenset[str], tuple[int, tuple[int, ...]]] = {}
        for k, mask in enumerate(uniq.tolist()):
            rows = order[bounds[k]:bounds[k + 1]]
            years = cols.year[rows]
            known = np.sort(years[~np.isnan(years)]).astype(int).tolist()
            names = frozenset(cols.cat_names[c] for c in range(n_cats) if mask >> c & 1)
            out[names] = (int(rows.size), tuple(known))
        return out

    def tag_categories(self, tags: Sequence[str]) -> dict[str, tuple[int, dict[str, int]]]:
        """For each tag: how many items carry it, and how many of those are in each category
        (what the offline planner learns word -> category associations from)."""
        cols = self.columns
        wanted = set(tags)
        by_tag: dict[str, list[int]] = {}
        stmt = select(Tag.name, ItemTag.item_id).join(ItemTag, ItemTag.tag_id == Tag.id)
        with self.engine.connect() as conn:
            for name, item_id in conn.execute(stmt):
                row = cols.index.get(item_id)
                if name in wanted and row is not None:
                    by_tag.setdefault(name, []).append(row)
        out: dict[str, tuple[int, dict[str, int]]] = {}
        for name, rows in by_tag.items():
            counts = np.asarray(cols.cats[np.asarray(rows)].sum(axis=0)).ravel()
            out[name] = (len(rows), {cols.cat_names[c]: int(n) for c, n in enumerate(counts)
                                     if n})
        return out

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
        fresh = self._read_items(missing, n_tags) if missing else {}
        if fresh:
            with self._lock:
                for i, view in fresh.items():
                    self._views[(i, n_tags)] = view
                while len(self._views) > VIEW_CACHE:
                    self._views.popitem(last=False)
        return {i: cached.get(i) or fresh[i] for i in known if i in cached or i in fresh}

    def _read_items(self, wanted: list[str], n_tags: int) -> dict[str, ItemView]:
        out: dict[str, ItemView] = {}
        tags: dict[str, list[tuple[int, str]]] = {i: [] for i in wanted}
        rows: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _SQL_IN_LIMIT):
                chunk = wanted[start:start + _SQL_IN_LIMIT]
                # one round trip: the items with their tags outer-joined
                stmt = (select(Item.item_id, Item.title, Item.year, Item.rating_avg,
                               Item.rating_count, Item.popularity, Item.description,
                               Item.attributes, Tag.name.label("tag_name"),
                               ItemTag.count.label("tag_count"))
                        .select_from(Item)
                        .outerjoin(ItemTag, ItemTag.item_id == Item.item_id)
                        .outerjoin(Tag, Tag.id == ItemTag.tag_id)
                        .where(Item.item_id.in_(chunk)))
                for row in conn.execute(stmt):
                    rows.setdefault(row.item_id, row)
                    if row.tag_name is not None:
                        tags[row.item_id].append((-(row.tag_count or 1), row.tag_name))
        for i in wanted:
            r = rows.get(i)
            if r is None:
                continue
            top = [name for _c, name in sorted(tags[i])[:n_tags]]
            out[i] = ItemView(
                item_id=i, title=r.title, year=r.year, categories=self.item_categories(i),
                tags=top, rating_avg=None if r.rating_avg is None else round(r.rating_avg, 2),
                rating_count=r.rating_count or 0, popularity=float(r.popularity or 0.0),
                description=r.description, attributes=dict(r.attributes or {}),
            )
        return out

    def user_history(self, user_id: str, limit: int = 500) -> list[tuple[str, float | None]]:
        """The user's interactions, newest first: ``[(item_id, rating), ...]`` (cached per
        process, bounded)."""
        key = (user_id, limit)
        with self._lock:
            hit = self._histories.get(key)
            if hit is not None:
                self._histories.move_to_end(key)
                return list(hit)
        stmt = (select(Interaction.item_id, Interaction.rating)
                .where(Interaction.user_id == user_id)
                .order_by(Interaction.ts.desc(), Interaction.item_id).limit(limit))
        with self.engine.connect() as conn:
            history = [(r[0], r[1]) for r in conn.execute(stmt)]
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
        cols = self.columns
        text = " ".join(name.split())[:300]
        year: int | None = None
        m = _YEAR_IN_QUERY.search(text)
        if m and m.start() > 0:
            year = int(m.group(1))
            text = text[:m.start()]
        norm = normalize_title(text)
        if not norm:
            return []
        scored = self._title_candidates(norm, threshold)
        out = []
        for k, score in scored.items():
            y = cols.year[k]
            item_year = None if np.isnan(y) else int(y)
            final = score
            if year is not None and item_year is not None and item_year != year:
                final -= min(15.0, 5.0 * abs(item_year - year))
            elif year is not None and item_year == year:
                final += 6.0  # a matching year confirms a near-miss spelling
            final = min(final, 100.0)
            if final >= threshold:
                out.append((final, float(cols.popularity[k]), k, item_year))
        out.sort(key=lambda t: (-t[0], -t[1], t[2]))
        return [Match(str(cols.ids[k]), cols.titles[k], yr, round(s, 1))
                for s, _p, k, yr in out[:limit]]

    def _title_candidates(self, norm: str, threshold: float) -> dict[int, float]:
        """Rows whose title may be the normalized name ``norm``, with a score: the exact
        title, else titles it begins, else near spellings."""
        cols = self.columns
        scored: dict[int, float] = {}
        for k in cols.by_norm.get(norm, []):
            scored[k] = 100.0
        if not scored and len(norm) >= 4:
            # a title's leading words: "star wars" -> "star wars episode iv a new hope"
            pos = bisect.bisect_left(cols.sorted_norms, norm + " ")
            for j in range(pos, min(pos + 50, len(cols.sorted_norms))):
                if not cols.sorted_norms[j].startswith(norm + " "):
                    break
                scored[int(cols.sorted_rows[j])] = PREFIX_SCORE
        if not scored:
            # typos: plain edit-distance ratio over the normalized titles (bounded work:
            # rapidfuzz skips strings whose length alone rules them out)
            for _choice, score, k in self._fuzzy(norm, fuzz.ratio, 20, threshold - 6):
                scored[int(k)] = float(score)
        return scored

    def _fuzzy(self, norm: str, scorer: Any, limit: int,
               cutoff: float) -> list[tuple[str, float, int]]:
        """rapidfuzz over the normalized titles: all of them in a small catalog; in a large
        one only the ``FUZZY_SHORTLIST`` titles sharing the most character trigrams with
        ``norm`` (a typo leaves most trigrams intact), so the cost stays bounded."""
        cols = self.columns
        if len(cols.norms) <= FUZZY_SCAN_LIMIT:
            return [(c, float(sc), int(k)) for c, sc, k in process.extract(
                norm, cols.norms, scorer=scorer, limit=limit, score_cutoff=cutoff)]
        shortlist = self._trigram_shortlist(norm, FUZZY_SHORTLIST)
        choices = {int(k): cols.norms[k] for k in shortlist.tolist()}
        return [(c, float(sc), int(k)) for c, sc, k in process.extract(
            norm, choices, scorer=scorer, limit=limit, score_cutoff=cutoff)]

    def _trigrams(self) -> sp.csc_matrix:
        """titles x hashed character trigrams (bool), built once, vectorised."""
        cols = self.columns
        grams = cols.extra.get("trigrams")
        if grams is not None:
            return grams
        with self._lock:
            grams = cols.extra.get("trigrams")
            if grams is None:
                grams = cols.extra["trigrams"] = _trigram_matrix(cols.norms)
        return grams

    def _trigram_shortlist(self, norm: str, k: int) -> np.ndarray:
        grams = self._trigrams()
        buckets = np.unique(_trigram_codes(norm))
        n = grams.shape[0]
        if buckets.size == 0:
            return np.empty(0, dtype=np.int64)
        postings = sorted((grams.indices[grams.indptr[b]:grams.indptr[b + 1]] for b in buckets),
                          key=len)
        # the rarest trigrams say the most; very common ones only cost time
        postings = [p for j, p in enumerate(postings) if j < 3 or len(p) <= n // 50]
        counts = np.bincount(np.concatenate(postings), minlength=n)
        top = np.argpartition(-counts, k - 1)[:k] if n > k else np.arange(n)
        return top[counts[top] > 0]

    def search(self, q: str, limit: int = 20) -> list[Match]:
        """Item search for the API: titles containing / resembling ``q``; empty ``q`` gives
        the most popular items."""
        cols = self.columns
        limit = max(1, min(limit, 100))
        norm = normalize_title(q[:300]) if q else ""
        if not norm:
            return [Match(str(cols.ids[k]), cols.titles[k],
                          None if np.isnan(cols.year[k]) else int(cols.year[k]), 0.0)
                    for k in cols.pop_order[:limit].tolist()]
        hits = self._fuzzy(norm, fuzz.WRatio, limit * 3, 60)
        hits.sort(key=lambda h: (-round(h[1]), -cols.popularity[h[2]], h[2]))
        return [Match(str(cols.ids[k]), cols.titles[k],
                      None if np.isnan(cols.year[k]) else int(cols.year[k]), round(s, 1))
                for _c, s, k in hits[:limit]]

    # ---- structured filters ------------------------------------------------------------------
    def _rows(self, ids: Iterable[str]) -> np.ndarray:
        index = self.columns.index
        return np.fromiter((index[i] for i in ids if i in index), dtype=np.int64)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """Rows (positions in :attr:`columns`) of the known ``ids``, in the order given."""
        return self._rows(ids)

    def canonical(self, f: ItemFilter) -> ItemFilter:
        """Resolve category names (raises :class:`UnknownCategoryError`)."""
        return f.model_copy(update={
            "categories_any": self.resolve_categories(f.categories_any),
            "categories_all": self.resolve_categories(f.categories_all),
            "categories_none": self.resolve_categories(f.categories_none),
        })

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
        rows = np.unique(self._rows(self.items_with_tags(list(key))))
        with self._lock:
            cache[key] = rows
            while len(cache) > TAG_CACHE:
                cache.popitem(last=False)
        return rows

    def items_with_tags(self, tags: Sequence[str]) -> set[str]:
        """Ids of the items carrying every one of ``tags`` (names compared case-blind)."""
        wanted = list(dict.fromkeys(t.casefold() for t in tags))
        if not wanted:
            return set()
        stmt = (select(ItemTag.item_id).join(Tag, Tag.id == ItemTag.tag_id)
                .where(func.lower(Tag.name).in_(wanted)).group_by(ItemTag.item_id)
                .having(func.count(func.distinct(func.lower(Tag.name))) == len(wanted)))
        with self.engine.connect() as conn:
            return {str(i) for i in conn.execute(stmt).scalars()}

    def filter_ids(self, f: ItemFilter, within: Sequence[str] | None = None,
                   *, method: Literal["auto", "numpy", "sql"] = "auto") -> list[str]:
        """Ids passing ``f``: in ``within``'s order when given, else most popular first.

        ``auto`` evaluates vectorised over the cached columns, and in SQL when attribute
        conditions are present (attributes are not cached). Both give the same result."""
        rows = None if within is None else self._rows(within)
        ids: list[str] = self.columns.ids[self.filter_rows(f, rows, method=method)].tolist()
        return ids

    def filter_rows(self, f: ItemFilter, within: np.ndarray | None = None,
                    *, method: Literal["auto", "numpy", "sql"] = "auto") -> np.ndarray:
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
                    *, method: Literal["auto", "numpy", "sql"] = "auto") -> np.ndarray:
        """Boolean mask: which of the rows ``within`` (None: every row, storage order)
        pass ``f``."""
        f = self.canonical(f)
        if method == "sql" or (method == "auto" and f.attributes):
            return self._filter_sql_mask(f, within)
        return self._filter_numpy(f, within)

    def _filter_numpy(self, f: ItemFilter, within: np.ndarray | None) -> np.ndarray:
        cols = self.columns
        if f.attributes:
            raise ValueError("attribute conditions need the SQL path")
        # the open case evaluates over all rows in storage order (no gathers)
        every = within is None
        rows = np.arange(len(cols.ids)) if within is None else np.asarray(within, np.int64)

        def col(values: np.ndarray) -> np.ndarray:
            return values if every else values[rows]

        keep = np.ones(rows.shape[0], dtype=bool)
        self._keep_by_columns(f, keep, col)
        if f.tags_all:
            tagged = self._tag_rows(f.tags_all)
            if every:
                keep &= np.isin(rows, tagged, assume_unique=True)
            else:
                keep &= np.isin(rows, tagged)
        if f.exclude_ids:
            excluded = self._rows(f.exclude_ids)
            if excluded.size:
                if every:
                    keep[excluded] = False
                else:
                    keep &= ~np.isin(rows, excluded)
        return keep

    def _keep_by_columns(self, f: ItemFilter, keep: np.ndarray,
                         col: Callable[[np.ndarray], np.ndarray]) -> None:
        """``keep`` (in place) narrowed by ``f``'s category, year, rating and popularity
        conditions; ``col`` gathers an all-rows column at the rows ``keep`` is over."""
        cols = self.columns
        if f.categories_any:
            keep &= col(self._category_mask(f.categories_any, "any"))
        if f.categories_all:
            keep &= col(self._category_mask(f.categories_all, "all"))
        if f.categories_none:
            keep &= ~col(self._category_mask(f.categories_none, "any"))
        if f.year_min is not None:
            keep &= col(cols.year) >= f.year_min  # NaN compares False: unknown year fails
        if f.year_max is not None:
            keep &= col(cols.year) <= f.year_max
        if f.min_rating is not None:
            keep &= col(cols.rating_avg) >= f.min_rating
        if f.min_rating_count is not None:
            keep &= col(cols.rating_count) >= f.min_rating_count
        lo, hi = self._popularity_bounds(f)
        if lo is not None:
            keep &= col(cols.popularity) >= lo
        if hi is not None:
            keep &= col(cols.popularity) <= hi

    def _category_mask(self, names: list[str], how: Literal["any", "all"]) -> np.ndarray:
        """Boolean mask over all rows: items in any / all of the (canonical) categories."""
        wanted = list(dict.fromkeys(self.columns.cat_lookup[name.casefold()]
                                    for name in names))
        if len(wanted) == 1:
            return self._one_category(wanted[0])  # read-only: callers combine into new arrays
        out = self._one_category(wanted[0]).copy()
        for c in wanted[1:]:
            if how == "any":
                out |= self._one_category(c)
            else:
                out &= self._one_category(c)
        return out

    def _one_category(self, c: int) -> np.ndarray:
        """Boolean mask over all rows: items in category column ``c`` (cached per process,
        one byte per item and category; read-only)."""
        cols = self.columns
        masks: dict[int, np.ndarray] = cols.extra.setdefault("cat_masks", {})
        mask = masks.get(c)
        if mask is None:
            csc = cols.extra.get("cats_csc")
            if csc is None:
                csc = cols.extra["cats_csc"] = cols.cats.tocsc()
            mask = np.zeros(len(cols.ids), dtype=bool)
            mask[csc.indices[csc.indptr[c]:csc.indptr[c + 1]]] = True
            mask.flags.writeable = False
            masks[c] = mask
        return mask

    def _popularity_bounds(self, f: ItemFilter) -> tuple[float | None, float | None]:
        """Percentile conditions -> popularity thresholds (so SQL can use the index)."""
        cols = self.columns
        n = len(cols.ids)
        lo = hi = None
        if n and f.popularity_pct_min is not None:
            ok = cols.pop_pct >= f.popularity_pct_min
            lo = float(cols.popularity[ok].min()) if ok.any() else float("inf")
        if n and f.popularity_pct_max is not None:
            ok = cols.pop_pct <= f.popularity_pct_max
            hi = float(cols.popularity[ok].max()) if ok.any() else float("-inf")
        return lo, hi

    def filter_statement(self, f: ItemFilter, within: Sequence[str] | None = None) -> Any:
        """``f`` compiled to a SQLAlchemy select of item ids (bound parameters only).
        Category names must already be canonical (see :meth:`filter_ids`)."""
        cols = self.columns
        conds: list[Any] = []

        def has_category(names: list[str]) -> Any:
            ids = [cols.cat_ids[cols.cat_lookup[n.casefold()]] for n in names]
            return exists().where(and_(ItemCategory.item_id == Item.item_id,
                                       ItemCategory.category_id.in_(ids)))

        if f.categories_any:
            conds.append(has_category(f.categories_any))
        for name in dict.fromkeys(f.categories_all):
            conds.append(has_category([name]))
        for tag in dict.fromkeys(f.tags_all):
            conds.append(exists(
                select(ItemTag.item_id).join(Tag, Tag.id == ItemTag.tag_id)
                .where(ItemTag.item_id == Item.item_id, func.lower(Tag.name) == tag.casefold())))
        if f.categories_none:
            conds.append(not_(has_category(f.categories_none)))
        conds += self._column_conditions(f)
        conds += _attribute_conditions(f.attributes)
        if within is not None:
            conds.append(Item.item_id.in_(list(within)))
        return (select(Item.item_id).where(and_(True, *conds))
                .order_by(Item.popularity.desc(), Item.item_id))

    def _column_conditions(self, f: ItemFilter) -> list[Any]:
        """``f``'s year, rating, popularity and excluded-id conditions as SQL conditions."""
        conds: list[Any] = []
        if f.year_min is not None:
            conds.append(Item.year >= f.year_min)
        if f.year_max is not None:
            conds.append(Item.year <= f.year_max)
        if f.min_rating is not None:
            conds.append(Item.rating_avg >= f.min_rating)
        if f.min_rating_count is not None:
            conds.append(Item.rating_count >= f.min_rating_count)
        lo, hi = self._popularity_bounds(f)
        if lo is not None:
            conds.append(Item.popularity >= lo)
        if hi is not None:
            conds.append(Item.popularity <= hi)
        if f.exclude_ids:
            conds.append(Item.item_id.not_in(list(f.exclude_ids)))
        return conds

    def _filter_sql_mask(self, f: ItemFilter, within: np.ndarray | None) -> np.ndarray:
        cols = self.columns
        small = within is not None and len(within) <= _SQL_IN_LIMIT
        ids = None if within is None or not small else cols.ids[within].tolist()
        stmt = self.filter_statement(f, ids)
        with self.engine.connect() as conn:
            passing = self._rows(conn.execute(stmt).scalars())
        if within is None:
            keep = np.zeros(len(cols.ids), dtype=bool)
            keep[passing] = True
            return keep
        return np.isin(within, passing)

    # ---- ranking helpers (vectorised) --------------------------------------------------------
    def popularity_score_rows(self, rows: np.ndarray,
                              by: Literal["popularity", "rating"] = "popularity") -> np.ndarray:
        """Popularity, or the shrunk rating average, of the items at ``rows``."""
        cols = self.columns
        if by == "popularity":
            popularity: np.ndarray = cols.popularity[rows]
            return popularity
        counts = cols.rating_count[rows].astype(np.float64)
        avg = np.nan_to_num(cols.rating_avg[rows], nan=0.0)
        prior = cols.extra.get("rating_prior")
        if prior is None:
            rated = cols.rating_count > 0
            mean = float(np.nanmean(cols.rating_avg[rated])) if rated.any() else 0.0
            weight = max(1.0, float(np.median(cols.rating_count[rated]))) if rated.any() \
                else 1.0
            prior = cols.extra["rating_prior"] = (mean, weight)
        mean, weight = prior
        return np.asarray((weight * mean + counts * avg) / (weight + counts))

    def popularity_scores(self, ids: Sequence[str] | None,
                          by: Literal["popularity", "rating"] = "popularity",
                          ) -> tuple[list[str], np.ndarray]:
        """(ids, scores) for ``ids`` (None = every item): popularity, or a rating average
        shrunk toward the catalog mean so a single 5-star rating does not win."""
        cols = self.columns
        rows = np.arange(len(cols.ids)) if ids is None else self._rows(ids)
        return cols.ids[rows].tolist(), self.popularity_score_rows(rows, by)

    def top_popular(self, n: int, by: Literal["popularity", "rating"] = "popularity",
                    exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
        """The ``n`` best items of the whole catalog by ``by``, best first (vectorised:
        only the winners become Python strings)."""
        rows, scores = self.top_popular_rows(n, by, self._rows(list(exclude)))
        return self.columns.ids[rows].tolist(), scores

    def top_popular_rows(self, n: int, by: Literal["popularity", "rating"] = "popularity",
                         skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_popular` as (rows, scores), leaving out the rows ``skip``."""
        cols = self.columns
        total = len(cols.ids)
        if skip is None:
            skip = np.empty(0, dtype=np.int64)
        if by == "popularity":
            rows = cols.pop_order[: n + skip.size]
        else:
            scores = self.popularity_score_rows(np.arange(total), by)
            k = min(n + skip.size, total)
            rows = np.argpartition(-scores, k - 1)[:k] if 0 < k < total else np.arange(total)
        if skip.size:
            rows = rows[~np.isin(rows, skip)]
        scores = self.popularity_score_rows(rows, by)
        order = np.lexsort((rows, -scores))[:n]
        return rows[order], scores[order]
