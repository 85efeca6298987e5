"""The nine built-ins on the bundled MovieLens, on SQLite and PostgreSQL, via registry.invoke."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memory.session import Session
from tools.context import ToolContext
from tools.errors import ToolCallError
from tools.registry import ToolRegistry

HEAT, MATRIX, TOY_STORY, GODFATHER, SHAWSHANK = "6", "2571", "1", "858", "318"
REAL = [  # (as a person types it, expected item id)
    ("Heat", HEAT), ("heat (1995)", HEAT), ("The Matrix", MATRIX), ("Matrix, The", MATRIX),
    ("the matrix 1999", MATRIX), ("MATRIX!", MATRIX), ("Toy Story", TOY_STORY),
    ("Godfather", GODFATHER), ("The Shawshank Redemtion", SHAWSHANK), ("Forest Gump", "356"),
    ("Jurrasic Park", "480"), ("Pulp Fiction (1994)", "296"), ("Leon the professional", "293"),
    ("Amelie", "4973"), ("Star Wars", "260"), ("Fight Clb", "2959"),
]
INVENTED = ["Quantum Banana Chronicles", "The Purple Dinosaur Ninjas", "Midnight Spreadsheet",
            "Galactic Tax Auditors 3", "Lord of the Spoons"]


def call(registry: ToolRegistry, ctx: ToolContext, name: str, **args: object):  # type: ignore[no-untyped-def]
    return registry.invoke(name, args, ctx)


def fixable(registry: ToolRegistry, ctx: ToolContext, name: str, **args: object) -> str:
    with pytest.raises(ToolCallError) as err:
        registry.invoke(name, args, ctx)
    return err.value.message


# ---- lookup_items ----


def test_lookup_real_titles(registry: ToolRegistry, ctx: ToolContext) -> None:
    out = call(registry, ctx, "lookup_items", names=[n for n, _ in REAL[:10]])
    out2 = call(registry, ctx, "lookup_items", names=[n for n, _ in REAL[10:]])
    resolved = {**ctx.notes.resolved}
    for name, expected in REAL:
        assert resolved.get(name) == expected, (name, out.text, out2.text)
    assert ctx.bus.mentioned[:2] == [HEAT, MATRIX] and ctx.notes.unresolved == []
    assert ctx.bus.is_open  # a lookup names items, it does not restrict the candidates


def test_lookup_invented_titles_are_not_found(registry: ToolRegistry, ctx: ToolContext) -> None:
    out = call(registry, ctx, "lookup_items", names=INVENTED)
    assert out.text.count("not found") == len(INVENTED)
    assert ctx.notes.unresolved == INVENTED and ctx.bus.mentioned == [] and out.items == []


def test_lookup_year_disambiguates(registry: ToolRegistry, ctx: ToolContext) -> None:
    out = call(registry, ctx, "lookup_items", names=["Heat 2013"])
    assert ctx.bus.mentioned == ["103372"], out.text  # The Heat (2013), not Heat (1995)


def test_lookup_bad_inputs(registry: ToolRegistry, ctx: ToolContext) -> None:
    assert "at least 1" in fixable(registry, ctx, "lookup_items", names=[])
    assert "names" in fixable(registry, ctx, "lookup_items", names="Heat")
    assert "at most 10" in fixable(registry, ctx, "lookup_items", names=["x"] * 11)


# ---- item_info ----


def test_item_info(registry: ToolRegistry, ctx: ToolContext) -> None:
    out = call(registry, ctx, "item_info", item_ids=[MATRIX, "no-such-id"])
    assert "The Matrix (1999)" in out.text and "Sci-Fi" in out.text
    assert "unknown ids: no-such-id" in out.text
    info = out.data["items"][0]
    assert info["rating_count"] > 200 and 3.5 < info["rating_avg"] < 5 and info["tags"]
    assert "lookup_items" in fixable(registry, ctx, "item_info", item_ids=["The Matrix"])
    assert "empty" in fixable(registry, ctx, "item_info", item_ids=[])


# ---- filter_items ----


def test_filter_narrows_and_records(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", categories_any=["crime"], year_min=1990,
         year_max=1999)
    first = list(ctx.bus.ids or [])
    assert 100 < len(first) < 2000
    views = ctx.catalog.get_items(first[:50])
    assert all("Crime" in v.categories and 1990 <= (v.year or 0) <= 1999 for v in views.values())
    call(registry, ctx, "filter_items", categories_none=["Thriller"], min_rating=4.0,
         min_rating_count=20)
    second = ctx.bus.ids or []
    assert 0 < len(second) < len(first) and set(second) <= set(first)
    for v in ctx.catalog.get_items(second).values():
        assert "Thriller" not in v.categories and v.rating_count >= 20
        assert v.rating_avg is not None and v.rating_avg >= 4.0
    assert len(ctx.notes.filters) == 2 and ctx.notes.filters[0].categories_any == ["Crime"]
    assert [e.tool for e in ctx.bus.log] == ["filter_items", "filter_items"]


def test_filter_popularity_and_attribute(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", popularity="popular")
    popular = ctx.bus.ids or []
    assert MATRIX in popular and len(popular) < 0.2 * len(ctx.catalog)
    ctx2 = ToolContext(catalog=ctx.catalog, models=ctx.models, session=Session(),
                       settings=ctx.settings)
    call(registry, ctx2, "filter_items", attributes={"imdb_id": "0133093"})
    assert ctx2.bus.ids == [MATRIX]


def test_filter_leaves_out_shown_and_disliked(registry: ToolRegistry,
                                               make_ctx: Callable[..., ToolContext]) -> None:
    session = Session(shown=[MATRIX])
    session.profile.dislike("1240")  # The Terminator
    ctx = make_ctx(session)
    call(registry, ctx, "filter_items", categories_all=["Action", "Sci-Fi"])
    assert MATRIX not in (ctx.bus.ids or []) and "1240" not in (ctx.bus.ids or [])
    ctx = make_ctx(session)
    call(registry, ctx, "filter_items", categories_all=["Action", "Sci-Fi"], include_shown=True)
    assert {MATRIX, "1240"} <= set(ctx.bus.ids or [])


def test_filter_bad_inputs(registry: ToolRegistry, ctx: ToolContext) -> None:
    msg = fixable(registry, ctx, "filter_items", categories_any=["scifi"])
    assert "'scifi'" in msg and "Sci-Fi" in msg
    assert "Horror" in fixable(registry, ctx, "filter_items", categories_none=["horor"])
    assert "year" in fixable(registry, ctx, "filter_items", year_min=2005, year_max=1990)
    assert "at least one" in fixable(registry, ctx, "filter_items")
    assert "min_rating" in fixable(registry, ctx, "filter_items", min_rating=11)
    assert "popularity" in fixable(registry, ctx, "filter_items", popularity="viral")
    # hostile strings are data, never SQL
    msg = fixable(registry, ctx, "filter_items", categories_any=["x'); DROP TABLE items; --"])
    assert "unknown categor" in msg
    call(registry, ctx, "filter_items", attributes={"imdb_id": "' OR 1=1 --"})
    assert ctx.bus.is_open and ctx.catalog.has(MATRIX)  # matched nothing, table intact


def test_filter_matching_nothing_keeps_candidates(registry: ToolRegistry,
                                                   ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", categories_any=["Comedy"], year_max=1995)
    before = list(ctx.bus.ids or [])
    out = call(registry, ctx, "filter_items", year_min=2010)
    assert "matches no candidate" in out.text and ctx.bus.ids == before
    assert ctx.notes.messages and len(ctx.notes.filters) == 1


# ---- search_text ----


def test_search_text(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "search_text", query="space opera jedi", limit=20)
    top = ctx.bus.ids or []
    assert 0 < len(top) <= 20
    titles = ctx.catalog.titles(top[:5]).values()
    assert sum("Star Wars" in t for t in titles) >= 2, titles
    call(registry, ctx, "filter_items", categories_any=["Sci-Fi"])
    assert all("Sci-Fi" in v.categories for v in ctx.catalog.get_items(ctx.bus.ids or []).values())


def test_search_text_reranks_existing_candidates(registry: ToolRegistry,
                                                  ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", categories_any=["Crime"], year_min=1990, year_max=1999)
    n = len(ctx.bus)
    out = call(registry, ctx, "search_text", query="heist robbery", limit=1000)
    assert len(ctx.bus) == n  # soft: nothing dropped, matches first
    assert out.data["matched"] > 0
    first = ctx.catalog.get_items((ctx.bus.ids or [])[:1])
    assert first and "Crime" in next(iter(first.values())).categories
    assert "query" in fixable(registry, ctx, "search_text", query="")


# ---- similar_items / rank_for_user / rank_by_popularity ----


def test_similar_items_from_lookup(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "lookup_items", names=["Toy Story"])
    call(registry, ctx, "similar_items", limit=20)
    top = ctx.bus.ids or []
    assert len(top) == 20 and TOY_STORY not in top
    cats = [v.categories for v in ctx.catalog.get_items(top[:10]).values()]
    assert sum("Animation" in c or "Children" in c for c in cats) >= 3  # ~1 in 12 overall


def test_similar_items_restricted_to_candidates(registry: ToolRegistry,
                                                ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", categories_any=["Comedy"], year_min=1990)
    allowed = set(ctx.bus.ids or [])
    call(registry, ctx, "similar_items", item_ids=[MATRIX], limit=10)
    assert len(ctx.bus) == 10 and set(ctx.bus.ids or []) <= allowed
    assert "seed" in fixable(registry, ctx.__class__(
        catalog=ctx.catalog, models=ctx.models, session=Session(), settings=ctx.settings),
        "similar_items")
    assert "lookup_items" in fixable(registry, ctx, "similar_items", item_ids=["The Matrix"])


def test_rank_for_user_known_user_vs_likes(registry: ToolRegistry,
                                          make_ctx: Callable[..., ToolContext]) -> None:
    a = make_ctx(user_id="1")
    call(registry, a, "filter_items", categories_any=["Action"])
    pool = list(a.bus.ids or [])
    call(registry, a, "rank_for_user")
    assert sorted(a.bus.ids or []) == sorted(pool)  # re-ranked, restricted to candidates
    seen_by_1 = {i for i, _ in a.catalog.user_history("1")}
    session = Session()
    session.profile.like(TOY_STORY)
    session.profile.like("2355")  # A Bug's Life
    b = make_ctx(session)
    call(registry, b, "filter_items", categories_any=["Action"])
    out = call(registry, b, "rank_for_user", limit=10)
    assert "liked" in out.data["basis"] and len(b.bus) == 10
    assert (a.bus.ids or [])[:10] != (b.bus.ids or [])[:10]
    assert seen_by_1  # user 1 exists in the catalog


def test_rank_for_user_leaves_out_shown(registry: ToolRegistry,
                                        make_ctx: Callable[..., ToolContext]) -> None:
    ctx = make_ctx(user_id="1")
    call(registry, ctx, "rank_for_user", limit=5)
    shown = list(ctx.bus.ids or [])
    ctx2 = make_ctx(Session(user_id="1", shown=shown), user_id="1")
    call(registry, ctx2, "rank_for_user", limit=5)
    assert len(ctx2.bus) == 5 and not set(ctx2.bus.ids or []) & set(shown)
    assert "limit" in fixable(registry, ctx2, "rank_for_user", limit=0)


def test_rank_by_popularity(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "rank_by_popularity", limit=5)
    top = ctx.bus.ids or []
    counts = [v.rating_count for v in ctx.catalog.get_items(top).values()]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 300
    call(registry, ctx, "rank_by_popularity", by="rating", limit=5)
    rated = ctx.catalog.get_items(ctx.bus.ids or []).values()
    assert all(v.rating_avg is not None and v.rating_avg >= 4.0 and v.rating_count >= 20
               for v in rated)  # shrinkage
    assert "by" in fixable(registry, ctx, "rank_by_popularity", by="recency")


# ---- explain / update_profile ----


def test_explain(registry: ToolRegistry, make_ctx: Callable[..., ToolContext]) -> None:
    session = Session()
    session.profile.like(TOY_STORY)
    ctx = make_ctx(session)
    out = call(registry, ctx, "explain", item_ids=["3114"])  # Toy Story 2
    assert "Toy Story 2" in out.text and "Animation" in out.text and "Toy Story (1995)" in out.text
    assert "lookup_items" in fixable(registry, ctx, "explain", item_ids=["nope"])


def test_update_profile(registry: ToolRegistry, make_ctx: Callable[..., ToolContext]) -> None:
    ctx = make_ctx()
    call(registry, ctx, "filter_items", categories_any=["Sci-Fi"])
    assert MATRIX in (ctx.bus.ids or [])
    out = call(registry, ctx, "update_profile", like=["Heat"], dislike=[MATRIX],
               avoid_categories=["horror"], year_min=1990, note="not too long")
    p = ctx.session.profile
    assert p.liked == [HEAT] and p.disliked == [MATRIX]
    assert p.expectations.avoided_categories == ["Horror"] and p.expectations.year_min == 1990
    assert MATRIX not in (ctx.bus.ids or [])  # a dislike leaves the candidates at once
    assert "dislikes The Matrix (1999)" in out.text and ctx.notes.profile_changes
    assert "Sci-Fi" in fixable(registry, ctx, "update_profile", want_categories=["scifi"])
    assert "nothing to record" in fixable(registry, ctx, "update_profile")
    assert "Quantum" in fixable(registry, ctx, "update_profile", like=["Quantum Banana Chronicles"])


# ---- what the understanding pipeline added: tag conditions, soft avoid, seen items ----


def test_filter_by_catalog_tags(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", tags_all=["Time Travel"], categories_any=["Sci-Fi"])
    ids = ctx.bus.ids or []
    assert ids, "no sci-fi item tagged time travel"
    for v in ctx.catalog.get_items(ids, n_tags=100).values():
        assert "time travel" in [t.casefold() for t in v.tags] and "Sci-Fi" in v.categories
    assert "tagged Time Travel" in ctx.notes.filters[-1].describe()
    # a hostile tag is a bound value: it matches nothing and the catalog stays intact
    out = call(registry, ctx, "filter_items", tags_all=["x'); DROP TABLE tags; --"])
    assert "matches no candidate" in out.text and ctx.catalog.top_tags(5)


def test_search_text_avoid_pushes_down(registry: ToolRegistry, ctx: ToolContext) -> None:
    call(registry, ctx, "filter_items", categories_any=["Crime"], year_min=1990, year_max=1999)
    before = list(ctx.bus.ids or [])
    out = call(registry, ctx, "search_text", avoid="violence violent gore", limit=1000)
    after = list(ctx.bus.ids or [])
    assert sorted(after) == sorted(before) and out.data["pushed"] > 0  # nothing dropped
    pushed = {h.item_id for h in ctx.models.text.search("violence violent gore", n=len(after),
                                                       within=after)}
    first_pushed = min(k for k, i in enumerate(after) if i in pushed)
    assert all(i in pushed for i in after[first_pushed:])  # every avoided item comes last
    assert "query" in fixable(registry, ctx, "search_text")


def test_update_profile_seen_items_are_not_recommended(
        registry: ToolRegistry, make_ctx: Callable[..., ToolContext]) -> None:
    ctx = make_ctx()
    call(registry, ctx, "update_profile", seen=[MATRIX])
    assert ctx.session.profile.seen == [MATRIX] and ctx.session.profile.liked == []
    call(registry, ctx, "filter_items", categories_all=["Action", "Sci-Fi"])
    assert MATRIX not in (ctx.bus.ids or [])
