"""The held-out catalog as the simulation sees it, and one episode per user: the target's
categories, decade, tags and the history items most similar to it (what the simulated user
may reveal), never anything that names the target's title."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from recagent.simulation.errors import SimulationError
from recagent.simulation.workspace import POSITIVE_RATING, Target, id_key
from tools.catalog.db import make_engine
from tools.catalog.models import Category, Interaction, Item, ItemCategory, ItemTag, Tag
from tools.catalog.text import fold_accents, normalize_title

MAX_TAGS = 3  # tags of the target the user may reveal (the most used ones)
MAX_SIMILAR = 3  # history items similar to the target the user may mention
AttributeKind = Literal["category", "decade", "tag", "item"]


@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    title: str
    year: int | None
    categories: tuple[str, ...]
    tags: tuple[tuple[str, int], ...]  # (name, count), most used first
    popularity: float


@dataclass
class SimCatalog:
    """The held-out catalog in memory: items, users' training histories, item co-ratings."""

    items: dict[str, CatalogItem]
    histories: dict[str, dict[str, float]]  # user_id -> {item_id: rating}
    by_popularity: list[str]  # item ids, most popular first (ties: item id)

    @classmethod
    def load(cls, database_url: str) -> SimCatalog:
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                cats: dict[str, list[str]] = {}
                for item_id, name in conn.execute(
                    select(ItemCategory.item_id, Category.name)
                    .join(Category, Category.id == ItemCategory.category_id)
                    .order_by(ItemCategory.item_id, Category.name)
                ):
                    cats.setdefault(item_id, []).append(name)
                tags: dict[str, list[tuple[str, int]]] = {}
                for item_id, name, count in conn.execute(
                    select(ItemTag.item_id, Tag.name, ItemTag.count)
                    .join(Tag, Tag.id == ItemTag.tag_id)
                ):
                    tags.setdefault(item_id, []).append((name, int(count or 1)))
                items: dict[str, CatalogItem] = {}
                for item_id, title, year, pop in conn.execute(
                    select(Item.item_id, Item.title, Item.year, Item.popularity)
                ):
                    item_tags = sorted(tags.get(item_id, []), key=lambda t: (-t[1], t[0]))
                    items[item_id] = CatalogItem(item_id, title, year,
                                                 tuple(cats.get(item_id, [])),
                                                 tuple(item_tags), float(pop or 0.0))
                histories: dict[str, dict[str, float]] = {}
                for user_id, item_id, rating in conn.execute(
                    select(Interaction.user_id, Interaction.item_id, Interaction.rating)
                ):
                    histories.setdefault(user_id, {})[item_id] = (
                        float(rating) if rating is not None else POSITIVE_RATING
                    )
        finally:
            engine.dispose()
        order = sorted(items.values(), key=lambda it: (-it.popularity, id_key(it.item_id)))
        return cls(items, histories, [it.item_id for it in order])

    def raters(self) -> dict[str, set[str]]:
        """item_id -> the users who rated it (training data)."""
        out: dict[str, set[str]] = {}
        for user_id, hist in self.histories.items():
            for item_id in hist:
                out.setdefault(item_id, set()).add(user_id)
        return out


@dataclass(frozen=True)
class Attribute:
    kind: AttributeKind
    value: str  # category name, decade ("1990s"), tag, or a history item's title
    item_id: str | None = None  # for kind == "item"

    def label(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Episode:
    user_id: str
    target_id: str
    target_title: str
    categories: tuple[str, ...]
    decade: int | None
    tags: tuple[str, ...]  # most used first, at most MAX_TAGS, none that names the title
    similar: tuple[Attribute, ...]  # history items like the target, most similar first
    seen: frozenset[str]  # the user's training history (item ids)


def decade_of(year: int | None) -> int | None:
    return None if year is None else year - year % 10


def build_episodes(catalog: SimCatalog, targets: dict[str, Target]) -> list[Episode]:
    """One episode per user whose target is in the catalog, in user-id order."""
    raters = catalog.raters()
    # a tag that is also a category name ("romance" on a non-Romance movie) would be heard
    # as that category: not a usable attribute
    category_words = {norm_words(c) for it in catalog.items.values() for c in it.categories}
    episodes = []
    for user_id, target in targets.items():
        item = catalog.items.get(target.item_id)
        if item is None:
            continue
        hist = catalog.histories.get(user_id, {})
        title_norm = normalize_title(item.title)
        tags = tuple(
            name for name, _count in item.tags
            if norm_words(name) not in category_words and not overlaps_title(name, title_norm)
        )[:MAX_TAGS]
        episodes.append(Episode(
            user_id=user_id, target_id=item.item_id, target_title=item.title,
            categories=item.categories, decade=decade_of(item.year), tags=tags,
            similar=_similar_history(catalog, raters, item, hist, title_norm),
            seen=frozenset(hist),
        ))
    return episodes


def _similar_history(catalog: SimCatalog, raters: dict[str, set[str]], target: CatalogItem,
                     hist: dict[str, float], title_norm: str) -> tuple[Attribute, ...]:
    """The user's positively rated items most like the target: co-rating cosine (who else
    rated both) plus half the category Jaccard; never one whose title contains the target's
    or is contained in it ("Toy Story" for "Toy Story 2" names it partly)."""
    t_raters = raters.get(target.item_id, set())
    t_cats = set(target.categories)
    scored = []
    for item_id, rating in hist.items():
        if rating < POSITIVE_RATING or item_id == target.item_id:
            continue
        other = catalog.items.get(item_id)
        if other is None or overlaps_title(other.title, title_norm):
            continue
        o_raters = raters.get(item_id, set())
        cos = (len(t_raters & o_raters) / math.sqrt(len(t_raters) * len(o_raters))
               if t_raters and o_raters else 0.0)
        o_cats = set(other.categories)
        jac = len(t_cats & o_cats) / len(t_cats | o_cats) if t_cats | o_cats else 0.0
        scored.append((cos + 0.5 * jac, id_key(item_id), other))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return tuple(Attribute("item", o.title, o.item_id) for _s, _k, o in scored[:MAX_SIMILAR])


def sample_episodes(episodes: Sequence[Episode], users: int | None, *,
                    seed: int) -> list[Episode]:
    """All episodes (``users`` None) or a seeded sample of ``users`` of them, in user order."""
    if users is None or users >= len(episodes):
        return list(episodes)
    if users < 1:
        raise SimulationError("--users must be at least 1")
    picked = random.Random(f"sample:{seed}").sample(range(len(episodes)), users)
    return [episodes[i] for i in sorted(picked)]


_WORDS = re.compile(r"[^\w]+")


def norm_words(text: str) -> str:
    return " ".join(_WORDS.sub(" ", fold_accents(text).casefold().replace("'", "")).split())


def mentions_title(text: str, title: str) -> bool:
    """Does ``text`` contain the title (as whole words, case/accents/punctuation folded)?"""
    norm = normalize_title(title)
    return bool(norm) and f" {norm} " in f" {norm_words(text)} "


def overlaps_title(value: str, title_norm: str) -> bool:
    """A value that contains the (normalized) title as whole words, or is contained in it."""
    v = norm_words(value)
    if not v or not title_norm:
        return False
    return f" {title_norm} " in f" {v} " or f" {v} " in f" {title_norm} "
