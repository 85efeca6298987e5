"""Names -> items: what a person typed matched against the catalog's normalized titles.

Exact title first, then a title the name begins ("Star Wars"), then near spellings
(rapidfuzz); a year in the name prefers the item of that year. In a large catalog near
spellings are scored only on a shortlist of titles sharing the most character trigrams
with the name, so the cost stays bounded (:func:`trigram_matrix`, :func:`trigram_shortlist`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from rapidfuzz import fuzz, process

from tools.catalog.columns import Columns
from tools.catalog.values import Match

LOOKUP_THRESHOLD = 86.0  # below this a name is "not found" (0-100 scale)
FUZZY_SHORTLIST = 300  # titles sharing the most trigrams that rapidfuzz then scores
TRIGRAM_BUCKETS = 1 << 20
PREFIX_SCORE = 90.0  # the name is the first words of a title ("Star Wars")
_YEAR_IN_QUERY = re.compile(r"(?:\(\s*|\s)((?:18|19|20)\d{2})\s*\)?\s*$")

# (normalized name, scorer, limit, cutoff) -> [(title, score, row)], best first
Fuzzy = Callable[[str, Any, int, float], list[tuple[str, float, int]]]


def split_year(name: str) -> tuple[str, int | None]:
    """``"Heat (1995)"`` / ``"Heat 1995"`` -> ``("Heat", 1995)``; whitespace collapsed."""
    text = " ".join(name.split())[:300]
    m = _YEAR_IN_QUERY.search(text)
    if m and m.start() > 0:
        return text[:m.start()], int(m.group(1))
    return text, None


def title_candidates(cols: Columns, norm: str, threshold: float,
                     fuzzy: Fuzzy) -> dict[int, float]:
    """Rows whose title may be the normalized name ``norm``, with a score: the exact
    title, else titles it begins, else near spellings."""
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
        for _choice, score, k in fuzzy(norm, fuzz.ratio, 20, threshold - 6):
            scored[int(k)] = float(score)
    return scored


def best_matches(cols: Columns, scored: Mapping[int, float], year: int | None,
                 threshold: float, limit: int) -> list[Match]:
    """The candidates re-scored by the typed ``year`` (a matching year confirms a near
    miss, another one costs), those below ``threshold`` dropped, best first (equal
    scores: the more popular)."""
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


def search_matches(cols: Columns, norm: str, limit: int, fuzzy: Fuzzy) -> list[Match]:
    """Titles resembling the normalized ``norm`` (empty: the most popular items)."""
    if not norm:
        return [Match(str(cols.ids[k]), cols.titles[k],
                      None if np.isnan(cols.year[k]) else int(cols.year[k]), 0.0)
                for k in cols.pop_order[:limit].tolist()]
    hits = fuzzy(norm, fuzz.WRatio, limit * 3, 60)
    hits.sort(key=lambda h: (-round(h[1]), -cols.popularity[h[2]], h[2]))
    return [Match(str(cols.ids[k]), cols.titles[k],
                  None if np.isnan(cols.year[k]) else int(cols.year[k]), round(s, 1))
            for _c, s, k in hits[:limit]]


def scan(norm: str, choices: Sequence[str] | Mapping[int, str], scorer: Any, limit: int,
         cutoff: float) -> list[tuple[str, float, int]]:
    """rapidfuzz over ``choices`` (a list: row = position; a dict: row -> title)."""
    return [(c, float(sc), int(k)) for c, sc, k in process.extract(
        norm, choices, scorer=scorer, limit=limit, score_cutoff=cutoff)]


def trigram_codes(text: str) -> np.ndarray:
    """Hashed byte trigrams of `` text `` (padded so word starts and ends count)."""
    b = np.frombuffer(f" {text} ".encode(), dtype=np.uint8).astype(np.int64)
    if b.size < 3:
        return np.empty(0, dtype=np.int64)
    codes = (b[:-2] << 16) | (b[1:-1] << 8) | b[2:]
    return (codes * 2654435761) % TRIGRAM_BUCKETS


def trigram_matrix(norms: Sequence[str], width: int = 64) -> sp.csc_matrix:
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


def trigram_shortlist(grams: sp.csc_matrix, norm: str, k: int) -> np.ndarray:
    """Rows of the (at most) ``k`` titles sharing the most trigrams with ``norm``."""
    buckets = np.unique(trigram_codes(norm))
    n = grams.shape[0]
    if buckets.size == 0:
        return np.empty(0, dtype=np.int64)
    postings = sorted((grams.indices[grams.indptr[b]:grams.indptr[b + 1]] for b in buckets),
                      key=len)
    # the rarest trigrams say the most; very common ones only cost time
    postings = [p for j, p in enumerate(postings) if j < 3 or len(p) <= n // 50]
    counts = np.bincount(np.concatenate(postings), minlength=n)
    top = np.argpartition(-counts, k - 1)[:k] if n > k else np.arange(n)
    result: np.ndarray = top[counts[top] > 0]
    return result
