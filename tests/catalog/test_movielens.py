"""MovieLens ml-latest-small import (the bundled copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.ingest import IngestError, ingest_movielens
from tools.catalog.models import Category, Interaction, Item

from .helpers import snapshot, write

# 18 genres + IMAX; "(no genres listed)" (34 movies) becomes no category at all
GENRES = 19


@pytest.mark.parametrize("fixture", ["ml_sqlite_url", "ml_pg_url"])
def test_the_whole_data_set_is_imported(fixture: str, request: pytest.FixtureRequest) -> None:
    engine = make_engine(request.getfixturevalue(fixture))
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Item)) == 9742
            assert conn.scalar(select(func.count()).select_from(Interaction)) == 100836
            assert conn.scalar(select(func.count()).select_from(Category)) == GENRES
            assert "(no genres listed)" not in set(conn.scalars(select(Category.name)))
            no_year = select(func.count()).select_from(Item).where(Item.year.is_(None))
            assert conn.scalar(no_year) == 12  # "Babylon 5", "Black Mirror", ...
            toy = conn.execute(select(Item).where(Item.item_id == "1")).one()
            leon = conn.execute(select(Item).where(Item.item_id == "293")).one()
            pixar_tags: dict[str, int] = dict(conn.execute(text(
                "SELECT t.name, it.count FROM item_tags it JOIN tags t ON t.id = it.tag_id "
                "WHERE it.item_id = '1'")).all())
            genres = sorted(conn.scalars(text(
                "SELECT c.name FROM item_categories ic JOIN categories c "
                "ON c.id = ic.category_id WHERE ic.item_id = '1'")))
    finally:
        engine.dispose()
    assert (toy.title, toy.year, toy.rating_count, toy.popularity) == ("Toy Story", 1995, 215, 215)
    assert toy.rating_avg == pytest.approx(3.92093, abs=1e-5)
    assert toy.attributes == {
        "imdb_id": "0114709", "tmdb_id": "862",
        "imdb_url": "https://www.imdb.com/title/tt0114709/",
        "tmdb_url": "https://www.themoviedb.org/movie/862",
    }
    assert genres == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert pixar_tags == {"pixar": 2, "fun": 1}  # "Pixar" and "pixar" counted as one tag
    assert (leon.title, leon.year, leon.title_norm) == (
        "Léon: The Professional", 1994, "leon the professional")
    assert leon.attributes["alt_titles"] == ["The Professional", "Léon"]


@pytest.mark.slow
def test_reimport_changes_nothing(engine: Engine, ml_dir: Path) -> None:
    ingest_movielens(engine, ml_dir)
    before = snapshot(engine)
    report = ingest_movielens(engine, ml_dir)
    assert (report.items, report.interactions) == (9742, 100836)
    assert snapshot(engine) == before


def test_a_rating_for_an_unknown_movie_is_refused(
    engine: Engine, ml_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    shutil.copy(ml_dir / "movies.csv", folder / "movies.csv")
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
          "1,999999,3.0,964982703\n")
    ensure_schema(engine)
    before = snapshot(engine)
    with pytest.raises(IngestError, match=r"ratings\.csv:3: movieid '999999' is not a known"):
        ingest_movielens(engine, folder)
    assert snapshot(engine) == before


def test_a_folder_without_movies_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no movies.csv here"):
        ingest_movielens(engine, tmp_path)
