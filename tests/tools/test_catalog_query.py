"""The catalog query layer: vectorised and SQL filters agree; the text index round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.catalog.repository import ItemFilter, SqlCatalog, UnknownCategoryError
from tools.recommenders.text import TextIndex

FILTERS = [
    ItemFilter(categories_any=["Comedy", "Romance"], year_min=1995, year_max=2005),
    ItemFilter(categories_all=["Action", "Sci-Fi"], categories_none=["Comedy"]),
    ItemFilter(min_rating=4.0, min_rating_count=30),
    ItemFilter(popularity_pct_min=95),
    ItemFilter(popularity_pct_max=40, categories_any=["drama"]),
    ItemFilter(year_max=1950, exclude_ids=["3462", "1931"]),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f.describe())
def test_numpy_and_sql_agree(catalog: SqlCatalog, f: ItemFilter) -> None:
    fast = catalog.filter_ids(f, method="numpy")
    sql = catalog.filter_ids(f, method="sql")
    assert fast and set(fast) == set(sql)
    within = fast[::-1][:1500] + ["not-an-id"]
    assert catalog.filter_ids(f, within, method="numpy") == \
        catalog.filter_ids(f, within, method="sql") == [i for i in within if i in set(fast)]


def test_large_within_is_not_one_giant_in_list(catalog: SqlCatalog) -> None:
    everything = catalog.filter_ids(ItemFilter(year_min=1800))
    f = ItemFilter(categories_any=["Western"])
    assert catalog.filter_ids(f, everything, method="sql") == \
        catalog.filter_ids(f, everything, method="numpy")


def test_unknown_category_lists_closest(catalog: SqlCatalog) -> None:
    with pytest.raises(UnknownCategoryError) as err:
        catalog.filter_ids(ItemFilter(categories_any=["Sci Fi", "Comedy", "animaton"]))
    assert set(err.value.unknown) == {"Sci Fi", "animaton"}
    assert err.value.unknown["Sci Fi"][0] == "Sci-Fi"
    assert err.value.unknown["animaton"][0] == "Animation"


def test_search_and_vocabulary(catalog: SqlCatalog) -> None:
    assert catalog.search("matrix", 3)[0].title == "The Matrix"
    assert len(catalog.search("", 5)) == 5
    vocab = catalog.vocabulary()
    assert vocab.titles["matrix"] == "2571" and "Sci-Fi" in vocab.categories
    assert vocab.year_min is not None and vocab.year_min < 1930 < 2010 < (vocab.year_max or 0)
    assert catalog.user_history("1") and catalog.user_history("no-such-user") == []


def test_text_index_round_trip(catalog: SqlCatalog, tmp_path: Path) -> None:
    index = TextIndex.build(catalog.engine)
    index.save(tmp_path / "text")
    assert not list((tmp_path / "text").glob("*.pkl"))
    loaded = TextIndex.load(tmp_path / "text")
    q = "toy story pixar animation"
    assert [s.item_id for s in loaded.search(q, 5)] == [s.item_id for s in index.search(q, 5)]
    top3 = {s.item_id for s in loaded.search(q, 3)}
    assert len(top3 & {"1", "3114", "78499"}) >= 2  # the Toy Story films
    assert loaded.search("zzqx nonsenseword", 5) == []
    within = ["1", "2571", "6"]
    assert [s.item_id for s in loaded.search(q, 5, within=within)] == ["1"]


def test_trigram_shortlist_finds_what_the_full_scan_finds(
        catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large catalogs fuzzy-match through a trigram shortlist; on the real titles (typos
    included) it must resolve exactly like the full scan."""
    from tests.tools.test_builtin import INVENTED, REAL
    from tools.catalog import repository

    names = [n for n, _ in REAL] + INVENTED
    full = [[m.item_id for m in catalog.lookup(n)] for n in names]
    monkeypatch.setattr(repository, "FUZZY_SCAN_LIMIT", 0)
    short = [[m.item_id for m in catalog.lookup(n)] for n in names]
    assert short == full
    assert [m.item_id for m in catalog.search("jurasic prk", 3)][:1] == ["480"]


def test_absent_dense_model_is_skipped_cleanly(catalog: SqlCatalog, tmp_path: Path) -> None:
    """The embeddings extra is optional and never downloads: a model that is not installed
    locally leaves a working TF-IDF index."""
    index = TextIndex.build(catalog.engine, dense_model_name="no-such/local-model")
    assert index.dense is None and "dense_model" not in index.params
    index.save(tmp_path / "t")
    assert not (tmp_path / "t" / "dense.npy").exists()
    assert TextIndex.load(tmp_path / "t").search("toy story", 1)


@pytest.mark.parametrize("by", ["popularity", "rating"])
def test_top_popular_matches_a_full_sort(catalog: SqlCatalog, by: str) -> None:
    ids, scores = catalog.popularity_scores(None, by=by)  # type: ignore[arg-type]
    ranked = sorted(zip(ids, scores.tolist(), strict=True), key=lambda p: -p[1])
    skip = {ranked[0][0], ranked[3][0]}
    top, top_scores = catalog.top_popular(10, by, exclude=skip)  # type: ignore[arg-type]
    expected = [s for i, s in ranked if i not in skip][:10]
    assert top_scores.tolist() == pytest.approx(expected)
    assert not skip & set(top) and len(top) == 10
