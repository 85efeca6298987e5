"""The ``Catalog`` protocol's contract (``tools.catalog.protocol``): one suite, run against
every implementation on every database -- today the SQL catalog on a real SQLite file and on
a fresh PostgreSQL database (the ``db_url`` fixture runs each test on both).

A seven-item catalog small enough that every answer is known by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from tests.catalog.helpers import write
from tools.catalog.ingest import ingest_csv
from tools.catalog.protocol import Catalog
from tools.catalog.repository import ItemFilter, SqlCatalog, UnknownCategoryError
from tools.catalog.text import normalize_title

ITEMS = """item_id,title,year,categories,tags,description,studio
1,Heat,1995,Action|Crime|Thriller,heist|los angeles,Thieves and the detective who hunts them.,Warner
2,"Matrix, The",1999,Action|Sci-Fi,cyberpunk|virtual reality,,Warner
3,Toy Story,1995,Animation|Children|Comedy,pixar|toys,,Pixar
4,Toy Story 2,1999,Animation|Children|Comedy,pixar|toys,,Pixar
5,Amélie,2001,Comedy|Romance,paris,,
6,Alien,1979,Horror|Sci-Fi,space,,
7,Untitled Short,,Documentary,,,
"""

# popularity = interactions: item 2 has 4, item 3 has 3, item 1 has 2, item 4 has 1
INTERACTIONS = """user_id,item_id,rating,timestamp
u1,1,5,100
u1,2,4,200
u1,3,2,300
u2,2,5,100
u2,3,4,150
u2,4,4.5,160
u3,2,3,50
u3,1,4,60
u4,2,4,70
u4,3,5,80
"""


def _ingest(engine: Engine, tmp_path: Path, items: str, interactions: str | None) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", items),
               write(tmp_path / "interactions.csv", interactions) if interactions else None)


@pytest.fixture(params=["sql"])
def catalog(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Catalog:
    """Each implementation of the protocol over the small catalog (on both databases)."""
    _ingest(engine, tmp_path, ITEMS, INTERACTIONS)
    impl: Catalog = SqlCatalog(engine)
    impl.warm()
    return impl


def test_it_is_a_catalog(catalog: Catalog) -> None:
    assert isinstance(catalog, Catalog)


def test_ids_titles_years_and_labels(catalog: Catalog) -> None:
    assert len(catalog) == 7
    assert catalog.has("1") and not catalog.has("999")
    assert catalog.known(["3", "999", "1"]) == ["3", "1"]  # order kept, unknown dropped
    assert catalog.titles(["1", "5", "999"]) == {"1": "Heat", "5": "Amélie"}
    assert catalog.years(["1", "7", "999"]) == {"1": 1995}  # no year: absent
    assert catalog.label("1") == "Heat (1995)"
    assert catalog.label("7") == "Untitled Short"
    assert catalog.label("999") == "999"


def test_categories(catalog: Catalog) -> None:
    assert sorted(catalog.categories()) == [
        "Action", "Animation", "Children", "Comedy", "Crime", "Documentary", "Horror",
        "Romance", "Sci-Fi", "Thriller"]
    assert sorted(catalog.item_categories("1")) == ["Action", "Crime", "Thriller"]
    assert catalog.item_categories("999") == []
    assert catalog.resolve_categories(["sci-fi", " ACTION "]) == ["Sci-Fi", "Action"]


def test_an_unknown_category_names_the_closest(catalog: Catalog) -> None:
    with pytest.raises(UnknownCategoryError) as err:
        catalog.resolve_categories(["Comedy", "Horor"])
    assert list(err.value.unknown) == ["Horor"] and err.value.unknown["Horor"][0] == "Horror"
    with pytest.raises(UnknownCategoryError):
        catalog.canonical(ItemFilter(categories_none=["Westerns of the moon"]))


def test_tags(catalog: Catalog) -> None:
    assert catalog.items_with_tags(["PIXAR"]) == {"3", "4"}  # case-blind
    assert catalog.items_with_tags(["pixar", "heist"]) == set()  # every tag
    assert catalog.items_with_tags(["nobody tags this"]) == set()
    assert catalog.top_tags(2) == ["pixar", "toys"]  # two items each, then by name
    count, by_category = catalog.tag_categories(["pixar"])["pixar"]
    assert count == 2 and by_category == {"Animation": 2, "Children": 2, "Comedy": 2}


def test_get_items(catalog: Catalog) -> None:
    views = catalog.get_items(["4", "999", "1"])
    assert list(views) == ["4", "1"]  # order given, unknown absent
    heat = views["1"]
    assert (heat.title, heat.year, sorted(heat.categories)) == (
        "Heat", 1995, ["Action", "Crime", "Thriller"])
    assert sorted(heat.tags) == ["heist", "los angeles"]
    assert heat.description == "Thieves and the detective who hunts them."
    assert heat.rating_count == 2 and heat.rating_avg == pytest.approx(4.5)
    assert heat.attributes.get("studio") == "Warner"
    assert views["4"].rating_count == 1 and views["4"].popularity == pytest.approx(1.0)


def test_user_history_is_newest_first(catalog: Catalog) -> None:
    assert catalog.user_history("u1") == [("3", 2.0), ("2", 4.0), ("1", 5.0)]
    assert catalog.user_history("u1", limit=1) == [("3", 2.0)]
    assert catalog.user_history("nobody") == []


@pytest.mark.parametrize("name, item_id", [
    ("heat", "1"),
    ("The Matrix", "2"),  # the moved article
    ("Toy Story", "3"),  # the exact title before its sequel
    ("toy story 2", "4"),
    ("amelie", "5"),  # accents folded
    ("Alien (1979)", "6"),  # a year in the name
])
def test_lookup_finds_what_a_person_types(catalog: Catalog, name: str, item_id: str) -> None:
    found = catalog.lookup(name)
    assert found and found[0].item_id == item_id


def test_lookup_does_not_guess(catalog: Catalog) -> None:
    assert catalog.lookup("A Film Nobody Ever Made") == []
    assert catalog.lookup("") == []


def test_search(catalog: Catalog) -> None:
    assert {m.item_id for m in catalog.search("toy story")} >= {"3", "4"}
    assert [m.item_id for m in catalog.search("", limit=3)] == ["2", "3", "1"]  # most popular


def test_filter_ids(catalog: Catalog) -> None:
    comedy = ItemFilter(categories_any=["comedy"])
    assert catalog.filter_ids(comedy) == ["3", "4", "5"]  # most popular first
    assert catalog.filter_ids(comedy, within=["5", "1", "3"]) == ["5", "3"]  # within's order
    nineties = ItemFilter(year_min=1990, year_max=1999, categories_none=["Animation"])
    assert catalog.filter_ids(nineties) == ["2", "1"]
    assert catalog.filter_ids(ItemFilter(tags_all=["pixar"], exclude_ids=["3"])) == ["4"]
    assert catalog.filter_ids(ItemFilter(min_rating=4.5)) == ["1", "4"]
    assert catalog.canonical(comedy).categories_any == ["Comedy"]


def test_popularity(catalog: Catalog) -> None:
    ids, scores = catalog.top_popular(2)
    assert ids == ["2", "3"] and list(scores) == pytest.approx([4.0, 3.0])
    ids, _scores = catalog.top_popular(2, exclude=["2"])
    assert ids == ["3", "1"]
    ids, scores = catalog.popularity_scores(["1", "999", "4"])
    assert ids == ["1", "4"] and list(scores) == pytest.approx([2.0, 1.0])


def _ids(catalog: Catalog, rows: np.ndarray) -> list[str]:
    ids: list[str] = catalog.columns.ids[rows].tolist()
    return ids


def test_rows_address_the_columns(catalog: Catalog) -> None:
    cols = catalog.columns
    assert len(cols.ids) == len(catalog) == 7
    assert _ids(catalog, catalog.rows(["3", "999", "1"])) == ["3", "1"]  # unknown dropped
    assert all(cols.ids[cols.index[i]] == i for i in ("1", "4", "7"))
    assert _ids(catalog, cols.pop_order[:3]) == ["2", "3", "1"]  # most popular first


def test_filter_rows_answer_like_filter_ids(catalog: Catalog) -> None:
    comedy = ItemFilter(categories_any=["comedy"])
    assert _ids(catalog, catalog.filter_rows(comedy)) == ["3", "4", "5"]
    within = catalog.rows(["5", "1", "3"])
    assert _ids(catalog, catalog.filter_rows(comedy, within)) == ["5", "3"]  # within's order
    assert catalog.filter_mask(comedy, within).tolist() == [True, False, True]
    everywhere = catalog.filter_mask(comedy)
    assert everywhere.shape == (7,) and set(catalog.columns.ids[everywhere]) == {"3", "4", "5"}
    pixar_but_3 = ItemFilter(tags_all=["pixar"], exclude_ids=["3"])
    assert _ids(catalog, catalog.filter_rows(pixar_but_3)) == ["4"]


def test_attribute_filters(catalog: Catalog) -> None:
    """Attributes are not among the cached columns: these go through the database."""
    warner = ItemFilter(attributes={"studio": "Warner"})
    assert catalog.filter_ids(warner) == ["2", "1"]
    assert _ids(catalog, catalog.filter_rows(warner, catalog.rows(["1", "3", "2"]))) == [
        "1", "2"]
    assert catalog.filter_ids(ItemFilter(attributes={"studio": "Nobody"})) == []


def test_popularity_rows(catalog: Catalog) -> None:
    rows, scores = catalog.top_popular_rows(2)
    assert _ids(catalog, rows) == ["2", "3"] and list(scores) == pytest.approx([4.0, 3.0])
    rows, _scores = catalog.top_popular_rows(2, skip=catalog.rows(["2"]))
    assert _ids(catalog, rows) == ["3", "1"]
    some = catalog.rows(["1", "4"])
    assert list(catalog.popularity_score_rows(some)) == pytest.approx([2.0, 1.0])


def test_rating_rank_does_not_crown_a_single_rating(catalog: Catalog) -> None:
    """By rating, two ratings averaging 4.5 beat one rating of 4.5, and both beat four
    ratings averaging 4 (averages are shrunk toward the catalog's mean)."""
    rows, scores = catalog.top_popular_rows(2, "rating")
    assert _ids(catalog, rows) == ["1", "4"] and scores[0] > scores[1]
    ids, top_scores = catalog.top_popular(2, "rating")
    assert ids == ["1", "4"] and list(top_scores) == pytest.approx(list(scores))
    by_id = dict(zip(*catalog.popularity_scores(["1", "2", "4"], "rating"), strict=True))
    assert by_id["1"] > by_id["4"] > by_id["2"]
    some = catalog.rows(["2", "1"])
    assert list(catalog.popularity_score_rows(some, "rating")) == pytest.approx(
        [by_id["2"], by_id["1"]])


def test_vocabulary(catalog: Catalog) -> None:
    vocab = catalog.vocabulary()
    assert vocab.titles[normalize_title("Heat")] == "1"
    assert vocab.titles[normalize_title("The Matrix")] == "2"
    assert "Sci-Fi" in vocab.categories and "pixar" in vocab.tags
    assert (vocab.year_min, vocab.year_max) == (1979, 2001)


def test_vocabulary_category_sets(catalog: Catalog) -> None:
    """Each distinct category set with its item count and known years: what the offline
    planner checks a filter against before asking the catalog for the impossible."""
    sets = catalog.vocabulary().category_sets
    assert sets[frozenset({"Animation", "Children", "Comedy"})] == (2, (1995, 1999))
    assert sets[frozenset({"Documentary"})] == (1, ())  # no year known
    assert sum(count for count, _ in sets.values()) == 7


def test_reload_sees_a_changed_catalog(catalog: Catalog, engine: Engine,
                                       tmp_path: Path) -> None:
    assert not catalog.has("8")
    _ingest(engine, tmp_path, "item_id,title,year\n8,Heat,2024\n", None)
    catalog.reload()
    assert catalog.has("8") and catalog.label("8") == "Heat (2024)"
    assert {m.item_id for m in catalog.lookup("Heat", limit=5)} >= {"1", "8"}
