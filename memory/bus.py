"""The candidate bus: the working set of one turn.

Ordered candidates with scores, plus a log of which tool changed what. Tools get it by
reference and narrow / re-rank it; the LLM only ever sees :meth:`CandidateBus.summary`.

The candidates are kept as numpy arrays: ``rows`` (positions in the catalog's cached
columns, the bus's *universe*) and ``row_scores`` aligned with them, so a broad request
(100k candidates on a 1M-item catalog) is filtered, scored and re-ranked without a Python
object per candidate. Item ids appear only where somebody asks for them: :meth:`head` and
:meth:`top` for the few that are shown, :attr:`ids` / :attr:`scores` (materialised once per
change, for callers that want lists). The id-based methods (:meth:`set`, :meth:`narrow`,
:meth:`rank`) remain for plug-ins; ids the universe does not know are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

_NO_SCORES = np.empty(0, dtype=np.float64)


class Universe(Protocol):
    """The row space of the bus: ``ids[row]`` is an item id, ``index[item_id]`` its row
    (the catalog's cached columns are one)."""

    @property
    def ids(self) -> np.ndarray: ...

    @property
    def index(self) -> Mapping[str, int]: ...


@dataclass
class BusEntry:
    tool: str
    action: str  # "set", "narrow", "rank", "note"
    before: int | None
    after: int
    detail: str = ""


class CandidateBus:
    """Ordered candidates with scores. ``rows is None`` means "the whole catalog".

    ``universe`` is the row space, or a function returning it (resolved on first use, so a
    bus can be made before the catalog's columns are loaded); the tool context attaches
    the catalog's when a bus has none."""

    def __init__(self, universe: Universe | Callable[[], Universe] | None = None) -> None:
        self._universe: Universe | None = None
        self._source: Callable[[], Universe] | None = None
        if callable(universe):
            self._source = universe
        else:
            self._universe = universe
        self.rows: np.ndarray | None = None  # int64 universe rows, best first
        self.row_scores: np.ndarray = _NO_SCORES  # float64, aligned with rows
        self.mentioned: list[str] = []  # items the user named this turn
        self.log: list[BusEntry] = []
        self._ids: list[str] | None = None
        self._scores: dict[str, float] | None = None
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    # ---- the row space ---------------------------------------------------------------------
    @property
    def universe(self) -> Universe:
        if self._universe is None:
            if self._source is None:
                raise RuntimeError("the candidate bus has no catalog to map item ids to")
            self._universe = self._source()
        return self._universe

    def attach(self, universe: Universe | Callable[[], Universe]) -> None:
        """Give the bus its row space unless it has one already."""
        if self._universe is None and self._source is None:
            if callable(universe):
                self._source = universe
            else:
                self._universe = universe

    def rows_of(self, ids: Iterable[str]) -> np.ndarray:
        """Universe rows of the known ``ids``, in the order given."""
        index = self.universe.index
        return np.fromiter((index[i] for i in ids if i in index), dtype=np.int64)

    # ---- reading ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True while no tool has restricted the set yet (the whole catalog)."""
        return self.rows is None

    def __len__(self) -> int:
        return 0 if self.rows is None else int(self.rows.size)

    @property
    def ids(self) -> list[str] | None:
        """The candidates' item ids in order (None: the whole catalog). A list made once per
        change; on a large bus prefer :meth:`head`, :meth:`slice` and ``len()``."""
        if self.rows is None:
            return None
        if self._ids is None:
            self._ids = self.universe.ids[self.rows].tolist()
        return self._ids

    @property
    def scores(self) -> dict[str, float]:
        """item id -> score of every candidate (made once per change; see :meth:`score_of`)."""
        if self.rows is None:
            return {}
        if self._scores is None:
            ids = self.ids or []
            self._scores = dict(zip(ids, self.row_scores.tolist(), strict=True))
        return self._scores

    def head(self, n: int, exclude: Collection[str] = ()) -> list[str]:
        """The ids of the first ``n`` candidates, skipping ``exclude``."""
        if self.rows is None or n <= 0:
            return []
        rows = self.rows
        if exclude:
            skip = self.rows_of(exclude)
            if skip.size:
                prefix = rows[: n + skip.size]  # each skipped id removes at most one
                rows = prefix[~np.isin(prefix, skip)]
        head: list[str] = self.universe.ids[rows[:n]].tolist()
        return head

    def slice(self, start: int, stop: int) -> list[str]:
        """The ids of candidates ``start`` to ``stop`` (like ``ids[start:stop]``)."""
        if self.rows is None:
            return []
        ids: list[str] = self.universe.ids[self.rows[start:stop]].tolist()
        return ids

    def score_of(self, item_id: str) -> float:
        """The score of one candidate (0.0 when it is not one)."""
        row = self.universe.index.get(item_id)
        if row is None or self.rows is None or not self.rows.size:
            return 0.0
        if self._sorted is not None:
            return float(self._lookup(np.array([row], dtype=np.int64))[0])
        # a few lookups (the cards of a turn): one vectorised scan each beats sorting a
        # large bus
        at = np.flatnonzero(self.rows == row)
        return float(self.row_scores[at[0]]) if at.size else 0.0

    def top(self, n: int) -> list[tuple[str, float]]:
        if self.rows is None:
            return []
        rows = self.rows[:n]
        return list(zip(self.universe.ids[rows].tolist(), self.row_scores[:n].tolist(),
                        strict=True))

    def _lookup(self, rows: np.ndarray) -> np.ndarray:
        """Current scores of ``rows`` (0.0 for a row not on the bus)."""
        out = np.zeros(rows.shape[0], dtype=np.float64)
        if self.rows is None or not self.rows.size or not rows.size:
            return out
        if self._sorted is None:
            order = np.argsort(self.rows, kind="stable")
            self._sorted = (self.rows[order], self.row_scores[order])
        keys, values = self._sorted
        pos = np.minimum(np.searchsorted(keys, rows), keys.size - 1)
        found = keys[pos] == rows
        out[found] = values[pos[found]]
        return out

    # ---- changing (rows) ---------------------------------------------------------------------
    def _store(self, rows: np.ndarray, scores: np.ndarray) -> None:
        self.rows = rows
        self.row_scores = scores
        self._ids = None
        self._scores = None
        self._sorted = None

    def set_rows(self, tool: str, rows: np.ndarray, scores: np.ndarray | Sequence[float] | None
                 = None, detail: str = "", *, unique: bool = False) -> None:
        """Replace the candidates with ``rows`` (first occurrence kept; ``unique``: the
        caller knows there are no repeats). Without ``scores`` a row keeps the score it had
        on the bus (0.0 if it was not on it)."""
        before = None if self.rows is None else int(self.rows.size)
        rows = np.asarray(rows, dtype=np.int64)
        ordered = rows
        if rows.size > 1 and not unique:
            uniq, first = np.unique(rows, return_index=True)
            if uniq.size < rows.size:
                ordered = rows[np.sort(first)]
        if scores is not None:
            values = np.asarray(scores, dtype=np.float64)
            if values.shape[0] != rows.shape[0]:
                raise ValueError("set_rows(): rows and scores differ in length")
            if ordered is not rows:  # duplicates: the last score given for a row wins
                last = {int(r): float(s) for r, s in zip(rows.tolist(), values.tolist(),
                                                         strict=True)}
                values = np.array([last[r] for r in ordered.tolist()], dtype=np.float64)
        else:
            values = self._lookup(ordered)
        self._store(ordered, values)
        self.log.append(BusEntry(tool, "set", before, int(ordered.size), detail))

    def narrow_rows(self, tool: str, keep: np.ndarray, detail: str = "") -> None:
        """Keep the candidates where the boolean mask ``keep`` (aligned with :attr:`rows`)
        is true, order preserved. Requires a non-open bus."""
        if self.rows is None:
            raise ValueError("narrow() on an open bus: use set() with the matching ids")
        keep = np.asarray(keep, dtype=bool)
        before = int(self.rows.size)
        kept = self.rows[keep]
        self._store(kept, self.row_scores[keep])
        self.log.append(BusEntry(tool, "narrow", before, int(kept.size), detail))

    def rank_rows(self, tool: str, rows: np.ndarray, scores: np.ndarray | Sequence[float],
                  detail: str = "") -> None:
        """Replace the order (and scores) with ``rows`` sorted by ``scores`` descending
        (stable: equal scores keep the given order)."""
        before = None if self.rows is None else int(self.rows.size)
        rows = np.asarray(rows, dtype=np.int64)
        arr = np.asarray(scores, dtype=np.float64)
        order = np.argsort(-arr, kind="stable")
        self._store(rows[order], arr[order])
        self.log.append(BusEntry(tool, "rank", before, int(rows.size), detail))

    # ---- changing (item ids; for plug-ins) -------------------------------------------------
    def _id_rows(self, ids: Sequence[str], scores: Sequence[float] | np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        index = self.universe.index
        pos = [k for k, i in enumerate(ids) if i in index]
        rows = np.fromiter((index[ids[k]] for k in pos), dtype=np.int64, count=len(pos))
        if scores is None:
            return rows, None
        values = np.asarray(scores, dtype=np.float64)
        if values.shape[0] != len(ids):
            raise ValueError("ids and scores differ in length")
        return rows, values[np.asarray(pos, dtype=np.int64)]

    def set(self, tool: str, ids: Sequence[str], scores: Sequence[float] | None = None,
            detail: str = "") -> None:
        rows, values = self._id_rows(list(ids), scores)
        self.set_rows(tool, rows, values, detail)

    def narrow(self, tool: str, keep: Callable[[str], bool] | Iterable[str],
               detail: str = "") -> None:
        """Keep only the ids that pass (order preserved). Requires a non-open bus."""
        if self.rows is None:
            raise ValueError("narrow() on an open bus: use set() with the matching ids")
        if callable(keep):
            mask = np.fromiter(map(keep, self.ids or []), dtype=bool, count=len(self))
        else:
            mask = np.isin(self.rows, self.rows_of(set(keep)))
        self.narrow_rows(tool, mask, detail)

    def rank(self, tool: str, ids: Sequence[str], scores: Sequence[float] | np.ndarray,
             detail: str = "") -> None:
        """Replace the order (and scores) with ``ids`` sorted by ``scores`` descending."""
        rows, values = self._id_rows(list(ids), scores)
        assert values is not None
        self.rank_rows(tool, rows, values, detail)

    # ---- for the LLM -----------------------------------------------------------------------
    def summary(self, titles: Callable[[Sequence[str]], dict[str, str]] | None = None,
                n: int = 5) -> str:
        """Short text for the LLM: count, a few titles, what the last tool changed."""
        if self.rows is None:
            return "candidates: whole catalog (no restriction yet)"
        head = self.head(n)
        names = titles(head) if titles else {}
        shown = ", ".join(names.get(i, i) for i in head)
        last = self.log[-1] if self.log else None
        change = ""
        if last is not None:
            before = "all" if last.before is None else str(last.before)
            change = f"; {last.tool} {last.action}: {before} -> {last.after}"
        if not head:
            return f"candidates: 0{change}"
        return f"candidates: {len(self)}{change}; top: {shown}"
