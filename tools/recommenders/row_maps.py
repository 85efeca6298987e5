"""How a model's (or the text index's) item rows line up with the catalog's rows, computed
once per (owner, row space) and kept while the owner lives."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from itertools import repeat
from typing import Any

import numpy as np

_MAPS: weakref.WeakKeyDictionary[Any, tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] \
    = weakref.WeakKeyDictionary()
_MAPS_LOCK = threading.Lock()


def aligned_rows(owner: Any, own_ids: np.ndarray, own_index: Mapping[str, int],
                 universe_ids: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """How the rows of ``owner`` (a model's or the text index's item order, ``own_ids``)
    line up with another row space (the catalog's cached columns, ``universe_ids``):
    ``(to_own, from_own)``, ``to_own[universe_row]`` = own row or -1 and
    ``from_own[own_row]`` = universe row or -1; ``(None, None)`` when the orders are the same.

    Computed once per (owner, universe) and kept while the owner lives (one dict lookup per
    universe item, the first time)."""
    with _MAPS_LOCK:
        hit = _MAPS.get(owner)
    if hit is not None and hit[0] is universe_ids:
        return hit[1], hit[2]
    if own_ids.shape == universe_ids.shape and np.array_equal(own_ids, universe_ids):
        to_own: np.ndarray | None = None
        from_own: np.ndarray | None = None
    else:
        to_own = np.fromiter(map(own_index.get, universe_ids.tolist(), repeat(-1)),
                             dtype=np.int64, count=universe_ids.shape[0])
        from_own = np.full(own_ids.shape[0], -1, dtype=np.int64)
        known = np.flatnonzero(to_own >= 0)
        from_own[to_own[known]] = known
    with _MAPS_LOCK:
        _MAPS[owner] = (universe_ids, to_own, from_own)
    return to_own, from_own
