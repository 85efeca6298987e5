"""The ``Catalog`` protocol: the read side of the item catalog that the tools, the agent and
the API use.

One implementation today, :class:`tools.catalog.repository.SqlCatalog` (SQLAlchemy, on SQLite
or PostgreSQL), checked against ``tests/catalog/test_contract.py`` on both databases; code
that only reads the catalog annotates with this protocol, so another backend (a search
service, an in-memory test double) can stand in. Writes go through
:mod:`tools.catalog.ingest`, not through this protocol.

Ids are the catalog's ``item_id`` strings; unknown ids are left out of answers, never an
error. Everything here is synchronous (async callers use a worker thread).

Rows: the hot paths (the candidate bus, the narrowing and ranking tools) work on *rows*, the
positions of items in :attr:`Catalog.columns` (a per-process copy of the static columns),
so a large candidate set stays a numpy array instead of a list of id strings. The ``*_rows``
and ``filter_mask`` methods are the row-level twins of the id-level ones and answer the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from tools.catalog.columns import Columns
from tools.catalog.ranking import RankBy
from tools.catalog.title_match import LOOKUP_THRESHOLD
from tools.catalog.values import ItemFilter, ItemView, Match, Vocabulary

__all__ = ["Catalog", "Columns", "ItemFilter", "ItemView", "Match", "RankBy", "Vocabulary"]


@runtime_checkable
class Catalog(Protocol):
    """Read access to the items, their categories and tags, and users' interactions."""

    # -- ids and labels
    def __len__(self) -> int:
        """The number of items."""
        ...

    def has(self, item_id: str) -> bool: ...

    def known(self, ids: Iterable[str]) -> list[str]:
        """The ids the catalog has, in the order given."""
        ...

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """item_id -> title of the known ``ids``."""
        ...

    def years(self, ids: Sequence[str]) -> dict[str, int]:
        """item_id -> year of the known ``ids`` that have one."""
        ...

    def label(self, item_id: str) -> str:
        """"Title (year)" for short summaries (the id itself when unknown)."""
        ...

    # -- categories and tags
    def categories(self) -> list[str]:
        """Every category name."""
        ...

    def item_categories(self, item_id: str) -> list[str]: ...

    def resolve_categories(self, names: Sequence[str]) -> list[str]:
        """The canonical names of ``names`` (case-insensitive); ``UnknownCategoryError``
        (naming the closest known ones) for a name the catalog does not have."""
        ...

    def top_tags(self, n: int = 50) -> list[str]:
        """The ``n`` most used tags, most used first."""
        ...

    def tag_categories(self, tags: Sequence[str]) -> dict[str, tuple[int, dict[str, int]]]:
        """tag -> (items carrying it, {category: items carrying it in that category})."""
        ...

    def items_with_tags(self, tags: Sequence[str]) -> set[str]:
        """Ids of the items carrying every one of ``tags`` (case-blind)."""
        ...

    def vocabulary(self, n_tags: int = 200) -> Vocabulary:
        """What the offline planner reads messages against."""
        ...

    # -- items
    def get_items(self, ids: Sequence[str], *, n_tags: int = 5) -> dict[str, ItemView]:
        """Facts about the known ``ids``, in the order given."""
        ...

    def user_history(self, user_id: str, limit: int = 500) -> list[tuple[str, float | None]]:
        """The user's interactions, newest first: ``[(item_id, rating), ...]``."""
        ...

    # -- finding items
    def lookup(self, name: str, limit: int = 3,
               threshold: float = LOOKUP_THRESHOLD) -> list[Match]:
        """The items a typed name refers to, best first; ``[]``: not found (no guess)."""
        ...

    def search(self, q: str, limit: int = 20) -> list[Match]:
        """Titles containing / resembling ``q``; an empty ``q``: the most popular items."""
        ...

    def canonical(self, f: ItemFilter) -> ItemFilter:
        """``f`` with its category names resolved (``UnknownCategoryError``)."""
        ...

    def filter_ids(self, f: ItemFilter, within: Sequence[str] | None = None) -> list[str]:
        """Ids passing ``f``: in ``within``'s order when given, else most popular first."""
        ...

    def popularity_scores(self, ids: Sequence[str] | None,
                          by: RankBy = "popularity") -> tuple[list[str], np.ndarray]:
        """(known ids, their scores by ``by``) for ``ids`` (None: every item)."""
        ...

    def top_popular(self, n: int, by: RankBy = "popularity",
                    exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
        """The ``n`` best items by ``by`` (not in ``exclude``), best first, with scores."""
        ...

    # -- rows (positions in ``columns``)
    @property
    def columns(self) -> Columns:
        """The static columns as arrays: ``ids[row]`` is an item id, ``index[item_id]`` its
        row; ``pop_order`` the rows most popular first."""
        ...

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The rows of the known ``ids``, in the order given."""
        ...

    def filter_mask(self, f: ItemFilter, within: np.ndarray | None = None) -> np.ndarray:
        """Which of the rows ``within`` (None: every row, in row order) pass ``f``."""
        ...

    def filter_rows(self, f: ItemFilter, within: np.ndarray | None = None) -> np.ndarray:
        """:meth:`filter_ids` over rows: the rows of ``within`` passing ``f`` (its order),
        or with ``within=None`` every passing row, most popular first."""
        ...

    def popularity_score_rows(self, rows: np.ndarray,
                              by: RankBy = "popularity") -> np.ndarray:
        """:meth:`popularity_scores` of the items at ``rows``, aligned with them."""
        ...

    def top_popular_rows(self, n: int, by: RankBy = "popularity",
                         skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_popular` as (rows, scores), leaving out the rows ``skip``."""
        ...

    # -- caches
    def warm(self) -> None:
        """Build what the first request would otherwise build (start-up)."""
        ...

    def reload(self) -> None:
        """Forget what was read (after the catalog changed)."""
        ...


if TYPE_CHECKING:
    from tools.catalog import repository

    def _the_sql_catalog_is_a_catalog(c: repository.SqlCatalog) -> Catalog:
        return c  # mypy checks the implementation against the protocol here
