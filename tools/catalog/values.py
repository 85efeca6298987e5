"""The values the catalog takes and answers with: a filter on items, an item's facts, a
name's match, the vocabulary, and the error a filter naming an unknown category raises.

Plain data, no database: the SQL catalog (:mod:`tools.catalog.repository`), the
:class:`~tools.catalog.protocol.Catalog` protocol and the tools all share them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, Field


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
