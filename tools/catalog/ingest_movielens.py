"""The MovieLens ``ml-latest-small`` layout read into an import batch: ``movies.csv``
(title, year, genres, alternate titles), ``links.csv`` (IMDb / TMDB ids and the pages they
name) and ``tags.csv`` (tags, counted by how many users gave each). ``ratings.csv`` is an
ordinary interactions file (:func:`tools.catalog.ingest_rows.read_interactions`).
"""

from __future__ import annotations

from pathlib import Path

from tools.catalog.ingest_fields import (
    CATEGORY_LEN,
    TAG_LEN,
    TITLE_LEN,
    CsvFile,
    IngestError,
    need_id,
    parse_timestamp,
    split_names,
    tag_name,
)
from tools.catalog.ingest_rows import Batch, ItemRow, Progress
from tools.catalog.text import split_movielens_title_parts

NO_GENRES = "(no genres listed)"


def _imdb_url(value: str) -> str | None:
    digits = value.removeprefix("tt")
    return f"https://www.imdb.com/title/tt{int(digits):07d}/" if digits.isdigit() else None


def _tmdb_url(value: str) -> str | None:
    return f"https://www.themoviedb.org/movie/{int(value)}" if value.isdigit() else None


# links.csv ids -> the pages they name (kept as ``imdb_url`` / ``tmdb_url`` attributes)
_MOVIELENS_LINKS = {"imdb_id": _imdb_url, "tmdb_id": _tmdb_url}


def read_movielens(directory: Path, batch: Batch, progress: Progress) -> dict[str, str]:
    by_id = read_movielens_movies(directory / "movies.csv", batch)
    links = directory / "links.csv"
    if links.exists():
        read_movielens_links(links, batch, by_id)
    tags = directory / "tags.csv"
    if tags.exists():
        read_movielens_tags(tags, batch, by_id)
    return {movie_id: movie_id for movie_id in by_id}


def read_movielens_movies(movies: Path, batch: Batch) -> dict[str, ItemRow]:
    """movies.csv -> batch.items (title, year, genres, alternate titles); movieId -> item."""
    by_id: dict[str, ItemRow] = {}
    with CsvFile(movies, ("movieid", "title", "genres"), ("movieid", "title", "genres")) as f:
        i_id, i_title, i_genres = f.index["movieid"], f.index["title"], f.index["genres"]
        for line, row in f.rows():
            movie_id = need_id(row[i_id], "movieId", movies, line)
            if movie_id in by_id:
                raise IngestError(movies, line, f"movieId {movie_id!r} appears twice")
            title, year, alternates = split_movielens_title_parts(row[i_title])
            if not title:
                raise IngestError(movies, line, "missing title")
            if len(title) > TITLE_LEN:
                raise IngestError(movies, line, f"title is longer than {TITLE_LEN} characters")
            genres = row[i_genres].strip()
            item = ItemRow(item_id=movie_id, title=title, year=year)
            if genres and genres != NO_GENRES:
                item.categories = split_names(genres, CATEGORY_LEN, "genre", movies, line)
            if alternates:
                item.attributes["alt_titles"] = alternates
            by_id[movie_id] = item
            batch.rows += 1
    batch.items = list(by_id.values())
    batch.item_columns |= {"year", "categories"}
    return by_id


def read_movielens_links(links: Path, batch: Batch, by_id: dict[str, ItemRow]) -> None:
    """links.csv -> the movies' ``imdb_id``/``tmdb_id`` attributes and the pages they name."""
    cols = ("movieid", "imdbid", "tmdbid")
    with CsvFile(links, ("movieid",), cols) as f:
        i_id = f.index["movieid"]
        extra = [(f.index[c], c[:-2] + "_id") for c in cols[1:] if c in f.index]
        for line, row in f.rows():
            movie_id = need_id(row[i_id], "movieId", links, line)
            linked = by_id.get(movie_id)
            if linked is None:
                raise IngestError(links, line, f"movieId {movie_id!r} is not in movies.csv")
            for i, key in extra:
                value = row[i].strip()
                if value:
                    linked.attributes[key] = value
                    url = _MOVIELENS_LINKS[key](value)
                    if url:
                        linked.attributes[key[:-3] + "_url"] = url
            batch.rows += 1


def read_movielens_tags(tags: Path, batch: Batch, by_id: dict[str, ItemRow]) -> None:
    """tags.csv -> the movies' tags, counted (how many users gave each)."""
    batch.item_columns.add("tags")
    tag_cols = ("userid", "movieid", "tag", "timestamp")
    with CsvFile(tags, ("movieid", "tag"), tag_cols) as f:
        i_id, i_tag = f.index["movieid"], f.index["tag"]
        i_ts = f.index.get("timestamp")
        for line, row in f.rows():
            movie_id = need_id(row[i_id], "movieId", tags, line)
            tagged = by_id.get(movie_id)
            if tagged is None:
                raise IngestError(tags, line, f"movieId {movie_id!r} is not in movies.csv")
            if i_ts is not None:
                parse_timestamp(row[i_ts], tags, line)
            name = tag_name(row[i_tag])
            if len(name) > TAG_LEN:
                raise IngestError(tags, line, f"tag is longer than {TAG_LEN} characters")
            if name:
                tagged.tags[name] = tagged.tags.get(name, 0) + 1
            batch.rows += 1
