"""The ten built-in tools (design §4); their names are part of the product's contract.

They register through the same ``register(registry)`` path plug-ins use."""

from __future__ import annotations

from tools.builtin.explaining import explain
from tools.builtin.lookup import item_info, lookup_categories, lookup_items
from tools.builtin.narrowing import filter_items, search_text
from tools.builtin.profile import update_profile
from tools.builtin.ranking import rank_by_popularity, rank_for_user, similar_items
from tools.spec import Registrar

BUILTIN_TOOLS = (lookup_items, item_info, filter_items, search_text, similar_items,
                 rank_for_user, rank_by_popularity, explain, update_profile, lookup_categories)
BUILTIN_NAMES = tuple(t.name for t in BUILTIN_TOOLS)


def register(registry: Registrar) -> None:
    for t in BUILTIN_TOOLS:
        registry.register(t)
