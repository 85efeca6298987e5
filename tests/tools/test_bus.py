"""The candidate bus as catalog rows: the row and id views agree, tools that work on rows
rank exactly as the id-based model and text APIs do, filters agree on both evaluation paths."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from memory.bus import CandidateBus
from memory.session import Session
from tools.catalog.protocol import Catalog
from tools.catalog.repository import ItemFilter, SqlCatalog
from tools.context import ToolContext
from tools.recommenders.common import aligned_rows
from tools.registry import ToolRegistry

MATRIX, HEAT, TOY_STORY = "2571", "6", "1"


def _bus(catalog: SqlCatalog) -> CandidateBus:
    return CandidateBus(catalog.columns)


def test_rows_and_ids_describe_the_same_candidates(catalog: SqlCatalog) -> None:
    cols = catalog.columns
    bus = _bus(catalog)
    assert bus.is_open and bus.ids is None and bus.head(3) == [] and len(bus) == 0
    rows = cols.pop_order[:50]
    bus.set_rows("t", rows, np.arange(50, 0, -1, dtype=np.float64), detail="x")
    ids = cols.ids[rows].tolist()
    assert bus.ids == ids and len(bus) == 50 and bus.head(3) == ids[:3]
    assert bus.scores[ids[0]] == 50.0 and bus.score_of(ids[1]) == 49.0
    assert bus.score_of("not-an-item") == 0.0 and bus.slice(10, 12) == ids[10:12]
    assert bus.top(2) == [(ids[0], 50.0), (ids[1], 49.0)]
    # head skips what it is told to, still n long
    assert bus.head(3, exclude={ids[0], ids[2], "unknown"}) == [ids[1], ids[3], ids[4]]
    # the id API on the same bus: narrowing keeps order and scores
    bus.narrow("t", set(ids[::2]))
    assert bus.ids == ids[::2] and bus.score_of(ids[2]) == 48.0
    bus.narrow("t", lambda i: i != ids[2])
    assert bus.ids == [ids[0]] + ids[4::2]
    bus.rank("t", [ids[4], ids[0], "unknown"], [1.0, 2.0, 3.0])
    assert bus.ids == [ids[0], ids[4]] and bus.scores == {ids[0]: 2.0, ids[4]: 1.0}
    assert [(e.action, e.before, e.after) for e in bus.log] == [
        ("set", None, 50), ("narrow", 50, 25), ("narrow", 25, 24), ("rank", 24, 2)]


def test_set_keeps_first_position_and_known_scores(catalog: SqlCatalog) -> None:
    bus = _bus(catalog)
    bus.set("a", [MATRIX, HEAT], [5.0, 4.0])
    bus.set("b", [HEAT, MATRIX, HEAT, TOY_STORY])  # no scores: each keeps its own, new = 0
    assert bus.ids == [HEAT, MATRIX, TOY_STORY]
    assert [bus.score_of(i) for i in bus.ids] == [4.0, 5.0, 0.0]
    bus.set("c", [TOY_STORY, HEAT, TOY_STORY], [1.0, 2.0, 3.0])  # last score given wins
    assert bus.ids == [TOY_STORY, HEAT] and bus.score_of(TOY_STORY) == 3.0


def test_a_bus_made_without_a_catalog_gets_the_contexts(ctx: ToolContext) -> None:
    ctx.bus = CandidateBus()
    ctx.bus.set("x", [MATRIX, "no-such-item", HEAT])
    assert ctx.bus.ids == [MATRIX, HEAT]
    with pytest.raises(RuntimeError, match="no catalog"):
        CandidateBus().set("x", [MATRIX])


def _on_bus(ctx: ToolContext, ids: list[str]) -> None:
    ctx.bus.set("test", ids, [float(k % 5) for k in range(len(ids))])


def _random_ids(catalog: Catalog, n: int, seed: int) -> list[str]:
    cols = catalog.columns
    rows = np.random.default_rng(seed).permutation(len(cols.ids))[:n]
    return [str(i) for i in cols.ids[rows]]


@pytest.mark.parametrize("liked", [[], [MATRIX, HEAT]])
def test_rank_for_user_orders_the_bus_as_the_model_scores_it(
        registry: ToolRegistry, make_ctx: Callable[..., ToolContext], liked: list[str]) -> None:
    session = Session()
    session.profile.liked = list(liked)
    ctx = make_ctx(session)
    ids = _random_ids(ctx.catalog, 3000, seed=1)
    _on_bus(ctx, ids)
    registry.invoke("rank_for_user", {"limit": 40, "include_shown": True}, ctx)
    scores = ctx.models.default.score(ids, liked=liked)
    # items the model cannot score go last; ties keep the bus order
    scores = np.where(np.isfinite(scores), scores, scores[np.isfinite(scores)].min() - 1)
    expected = [ids[k] for k in np.lexsort((np.arange(len(ids)), -scores))[:40]]
    assert ctx.bus.ids == expected


def test_similar_items_on_a_bus_matches_the_models_candidates_path(
        registry: ToolRegistry, ctx: ToolContext) -> None:
    ids = _random_ids(ctx.catalog, 2500, seed=2)
    _on_bus(ctx, ids)
    registry.invoke("similar_items", {"item_ids": [MATRIX], "limit": 30,
                                      "include_shown": True}, ctx)
    hits = ctx.models.default.similar_items([MATRIX], n=30,
                                            candidates=[i for i in ids if i != MATRIX])
    assert ctx.bus.ids == [h.item_id for h in hits]
    assert [ctx.bus.score_of(h.item_id) for h in hits] == [h.score for h in hits]


def test_search_text_on_a_bus_puts_matches_first_by_score(
        registry: ToolRegistry, ctx: ToolContext) -> None:
    ids = _random_ids(ctx.catalog, 4000, seed=3)
    _on_bus(ctx, ids)
    registry.invoke("search_text", {"query": "space adventure", "limit": 1000,
                                    "include_shown": True}, ctx)
    hits = ctx.models.text.search("space adventure", n=len(ids), within=ids)
    matched = [h.item_id for h in hits]
    rest = [i for i in ids if i not in set(matched)]
    assert hits and ctx.bus.ids == (matched + rest)[:1000]


def test_a_dislike_leaves_a_large_bus(registry: ToolRegistry, ctx: ToolContext) -> None:
    ids = _random_ids(ctx.catalog, 5000, seed=4)
    _on_bus(ctx, ids)
    registry.invoke("update_profile", {"dislike": [ids[7], ids[4000]]}, ctx)
    assert ctx.bus.ids == [i for i in ids if i not in (ids[7], ids[4000])]


@pytest.mark.parametrize("f", [
    ItemFilter(categories_any=["comedy", "Drama"], year_min=1990),
    ItemFilter(categories_none=["Horror"], min_rating=3.5, tags_all=["funny"]),
    ItemFilter(popularity_pct_min=90, exclude_ids=[MATRIX, HEAT]),
])
def test_filters_agree_on_rows_over_numpy_and_sql(catalog: SqlCatalog, f: ItemFilter) -> None:
    within = catalog.rows(_random_ids(catalog, 2500, seed=5))  # > the SQL IN-list limit
    by_numpy = catalog.filter_rows(f, within, method="numpy")
    by_sql = catalog.filter_rows(f, within, method="sql")
    assert by_numpy.size and by_numpy.tolist() == by_sql.tolist()
    assert catalog.filter_rows(f, method="numpy").tolist() == \
        catalog.filter_rows(f, method="sql").tolist()
    assert catalog.columns.ids[by_numpy].tolist() == \
        catalog.filter_ids(f, catalog.columns.ids[within].tolist())


def test_row_maps_between_item_orders() -> None:
    class Owner:
        pass

    universe = np.array(["a", "b", "c", "d"])
    own = np.array(["d", "b", "x"])
    to_own, from_own = aligned_rows(Owner(), own, {"d": 0, "b": 1, "x": 2}, universe)
    assert to_own is not None and from_own is not None
    assert to_own.tolist() == [-1, 1, -1, 0] and from_own.tolist() == [3, 1, -1]
    same = aligned_rows(Owner(), universe.copy(), {}, universe)
    assert same == (None, None)
