"""CSV import (design §6): happy path, re-runs, and every kind of bad row on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text

from tools.catalog import ingest_write
from tools.catalog.ingest import IngestError, ingest_csv
from tools.catalog.models import Item

from .helpers import count, snapshot, write

ITEMS = """item_id,title,description,year,categories,tags,director
m1,"Matrix, The",A simulated world.,1999,Action|Sci-Fi,cyberpunk|Mind-Bending,Wachowskis
m2,Heat,A heist.,1995,Action|Crime,heist,Michael Mann
m3,Amélie,,2001,Comedy|Romance,,
"""
INTERACTIONS = """user_id,item_id,rating,timestamp
u1,m1,5,964982703
u1,m2,3.5,2000-01-01T00:00:00Z
u2,m1,4,
u2,m3,,2001-05-01 12:00:00
"""


def _categories(engine: Engine, item_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT c.name FROM item_categories ic JOIN categories c ON c.id = ic.category_id "
            "WHERE ic.item_id = :i"), {"i": item_id}).scalars())


def _tags(engine: Engine, item_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT t.name FROM item_tags it JOIN tags t ON t.id = it.tag_id "
            "WHERE it.item_id = :i"), {"i": item_id}).scalars())


def _item(engine: Engine, item_id: str) -> Item:
    with engine.connect() as conn:
        return conn.execute(select(Item).where(Item.item_id == item_id)).one()  # type: ignore[return-value]


def test_import_items_and_interactions(engine: Engine, tmp_path: Path) -> None:
    report = ingest_csv(engine, write(tmp_path / "items.csv", ITEMS),
                        write(tmp_path / "interactions.csv", INTERACTIONS))
    assert (report.items, report.interactions, report.categories) == (3, 4, 5)
    assert report.tags == 3 and report.rows == 7 and report.seconds > 0

    matrix = _item(engine, "m1")
    assert (matrix.title, matrix.title_norm, matrix.year) == ("Matrix, The", "matrix", 1999)
    assert matrix.description == "A simulated world."
    assert matrix.attributes == {"director": "Wachowskis"}
    assert (matrix.rating_count, matrix.rating_avg, matrix.popularity) == (2, 4.5, 2)
    assert _categories(engine, "m1") == ["Action", "Sci-Fi"]
    assert _tags(engine, "m1") == ["cyberpunk", "mind-bending"]  # tags are case-folded

    amelie = _item(engine, "m3")
    assert amelie.description is None and amelie.attributes == {}
    assert (amelie.rating_count, amelie.rating_avg, amelie.popularity) == (0, None, 1)
    with engine.connect() as conn:
        stamps: dict[str, int | None] = dict(conn.execute(text(
            "SELECT user_id || '/' || item_id, ts FROM interactions")).all())
    assert stamps == {"u1/m1": 964982703, "u1/m2": 946684800, "u2/m1": None,
                      "u2/m3": 988718400}


@pytest.fixture(params=["row-by-row", "bulk"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL writes big imports by dropping and rebuilding the interaction keys; small
    ones row by row. Run the update semantics through both paths."""
    if request.param == "bulk":
        monkeypatch.setattr(ingest_write, "PG_BULK_MIN", 1)
    return str(request.param)


@pytest.mark.usefixtures("write_path")
def test_rerun_updates_instead_of_duplicating(engine: Engine, tmp_path: Path) -> None:
    items = write(tmp_path / "items.csv", ITEMS)
    inter = write(tmp_path / "interactions.csv", INTERACTIONS)
    ingest_csv(engine, items, inter)
    first = snapshot(engine)
    ingest_csv(engine, items, inter)
    assert snapshot(engine) == first

    changed_items = write(tmp_path / "items2.csv", ITEMS.replace(
        "Heat,A heist.,1995,Action|Crime,heist", "Heat (director's cut),A heist.,1996,Drama,"))
    changed_inter = write(tmp_path / "inter2.csv", "user_id,item_id,rating\nu1,m2,1\nu3,m2,2\n")
    ingest_csv(engine, changed_items, changed_inter)
    heat = _item(engine, "m2")
    assert (heat.title, heat.year) == ("Heat (director's cut)", 1996)
    assert _categories(engine, "m2") == ["Drama"] and _tags(engine, "m2") == []
    assert (heat.rating_count, heat.rating_avg, heat.popularity) == (2, 1.5, 2)
    assert count(engine, "items") == 3 and count(engine, "interactions") == 5
    with engine.connect() as conn:  # the file has no timestamp column: the stored one stays
        assert conn.execute(text(
            "SELECT rating, ts FROM interactions WHERE user_id='u1' AND item_id='m2'"
        )).one() == (1.0, 946684800)


def test_interactions_alone_may_point_at_items_already_in_the_database(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS), None)
    assert count(engine, "interactions") == 0
    report = ingest_csv(engine, None, write(tmp_path / "i.csv", "user_id,item_id\nu9,m3\n"))
    assert report.interactions == 1 and _item(engine, "m3").popularity == 1


def test_a_popularity_column_is_kept_over_the_interaction_count(
    engine: Engine, tmp_path: Path
) -> None:
    items = write(tmp_path / "items.csv", "item_id,title,popularity\na,Alpha,12.5\nb,Beta,\n")
    ingest_csv(engine, items, write(tmp_path / "i.csv", "user_id,item_id\nu1,a\nu1,b\n"))
    assert _item(engine, "a").popularity == 12.5
    assert _item(engine, "b").popularity == 1
    # a later interactions-only import does not overwrite the given popularity
    ingest_csv(engine, None, write(tmp_path / "j.csv", "user_id,item_id\nu2,a\nu2,b\n"))
    assert (_item(engine, "a").popularity, _item(engine, "b").popularity) == (12.5, 2)


@pytest.mark.usefixtures("write_path")
def test_a_pair_repeated_in_one_file_keeps_its_last_row(engine: Engine, tmp_path: Path) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS), write(
        tmp_path / "i.csv", "user_id,item_id,rating\nu1,m1,1\nu1,m1,4\n"))
    assert count(engine, "interactions") == 1
    assert _item(engine, "m1").rating_avg == 4.0
    ingest_csv(engine, None, write(tmp_path / "j.csv", "user_id,item_id,rating\nu1,m1,2\n"))
    assert count(engine, "interactions") == 1
    assert _item(engine, "m1").rating_avg == 2.0


GOOD_INTER = "user_id,item_id,rating,timestamp\nu1,m1,4,964982703\n"
BAD = [
    # (which file, content, line, message part)
    ("items", "item_id,title\nx1,Ok\n,No id\n", 3, "missing item_id"),
    ("items", "item_id,title\nx1,\n", 2, "missing title"),
    ("items", "item_id,title,year\nx1,Ok,1999\nx2,Bad,19x9\n", 3, "year '19x9' is not a year"),
    ("items", "item_id,title,popularity\nx1,Ok,lots\n", 2, "popularity 'lots' is not a number"),
    ("items", "id,name\nx1,Ok\n", 1, "header lacks required column(s) item_id, title"),
    ("items", "item_id,title,title\nx1,a,b\n", 1, "header repeats column(s) title"),
    ("items", "item_id,title\nx1,A\nx1,B\n", 3, "item_id 'x1' appears twice (first on line 2)"),
    ("items", "item_id,title\nx1,A\nx2,B,extra\n", 3, "expected 2 fields like the header"),
    ("items", b"item_id,title\nx1,Caf\xe9\nx2,B\n", 2, "not UTF-8 text (byte 0xe9"),
    ("items", "", 1, "empty header"),
    ("interactions", "user_id,item_id,rating\nu1,m1,4\nu1,nope,3\n", 3,
     "item_id 'nope' is not a known item"),
    ("interactions", "user_id,item_id,rating\nu1,m1,five\n", 2, "rating 'five' is not a number"),
    ("interactions", "user_id,item_id,timestamp\nu1,m1,1\nu2,m1,yesterday\n", 3,
     "timestamp 'yesterday' is neither unix seconds nor ISO 8601"),
    ("interactions", "user_id,item_id\n,m1\n", 2, "missing user_id"),
    ("interactions", "user_id,item_id,score\nu1,m1,3\n", 1, "unexpected column(s) score"),
    ("interactions", b"user_id,item_id\nu1,m1\nu\xff,m1\n", 3, "not UTF-8 text (byte 0xff"),
    # values a database cannot hold are caught while reading, on SQLite and PostgreSQL alike
    ("interactions", "user_id,item_id,timestamp\nu1,m1,99999999999999999999\n", 2,
     "timestamp '99999999999999999999' is out of range"),
    ("interactions", "user_id,item_id,timestamp\nu1,m1,1e300\n", 2, "is out of range"),
    ("items", "item_id,title\nx1,Ok\nx2,Bad\x00title\n", 3,
     "control character U+0000 in column 'title'"),
    ("items", "item_id,title,director\nx1,Ok,A\x1bB\n", 2,
     "control character U+001B in column 'director'"),
]


@pytest.mark.parametrize(("which", "content", "line", "message"), BAD,
                         ids=[f"{b[0]}-{b[3][:24]}" for b in BAD])
def test_a_bad_row_aborts_with_file_line_and_changes_nothing(
    engine: Engine, tmp_path: Path, which: str, content: str | bytes, line: int, message: str
) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS),
               write(tmp_path / "interactions.csv", INTERACTIONS))
    before = snapshot(engine)
    # the good half of the pair would change the database if anything were written
    good_items = write(tmp_path / "good_items.csv", ITEMS.replace("Heat", "Heat 2") +
                       "m9,New film,,2020,,,\n")
    good_inter = write(tmp_path / "good_inter.csv", GOOD_INTER)  # re-rates u1/m1
    bad = write(tmp_path / f"bad_{which}.csv", content)
    args = (bad, good_inter) if which == "items" else (good_items, bad)
    with pytest.raises(IngestError) as err:
        ingest_csv(engine, *args)
    assert str(err.value).startswith(f"{bad}:{line}: ")
    assert message in str(err.value)
    assert (err.value.path, err.value.line) == (bad, line)
    assert snapshot(engine) == before


def test_a_failure_while_writing_rolls_everything_back(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS),
               write(tmp_path / "interactions.csv", INTERACTIONS))
    before = snapshot(engine)
    indexes_before = {ix["name"] for ix in inspect(engine).get_indexes("interactions")}
    monkeypatch.setattr(ingest_write, "PG_BULK_MIN", 1)  # PostgreSQL: drops keys, then fails

    def boom(conn: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_write, "recompute_stats", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_csv(engine, write(tmp_path / "items2.csv", ITEMS.replace("Heat", "Cold")),
                   write(tmp_path / "i2.csv", GOOD_INTER + "u5,m2,1,1\n"))
    assert snapshot(engine) == before
    insp = inspect(engine)
    assert {ix["name"] for ix in insp.get_indexes("interactions")} == indexes_before
    assert insp.get_pk_constraint("interactions")["constrained_columns"] == ["user_id", "item_id"]
    assert [fk["referred_table"] for fk in insp.get_foreign_keys("interactions")] == ["items"]


def test_interactions_alone_failing_after_the_bulk_load_roll_back_the_indexes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path drops the interaction indexes and builds them after the load; with no
    items file in the import the index drop is the transaction's first statement, and a
    failure after it must still leave the database, indexes included, as it was."""
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS),
               write(tmp_path / "interactions.csv", INTERACTIONS))
    before = snapshot(engine)
    indexes_before = {ix["name"] for ix in inspect(engine).get_indexes("interactions")}
    monkeypatch.setattr(ingest_write, "PG_BULK_MIN", 1)

    def boom(conn: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_write, "recompute_stats", boom)
    # ten new users: the import is more than twice the table, so it takes the bulk path
    many = GOOD_INTER + "".join(f"n{k},m2,1,1\n" for k in range(10))
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_csv(engine, None, write(tmp_path / "i2.csv", many))
    assert snapshot(engine) == before
    assert {ix["name"] for ix in inspect(engine).get_indexes("interactions")} == indexes_before
    monkeypatch.undo()
    monkeypatch.setattr(ingest_write, "PG_BULK_MIN", 1)
    ingest_csv(engine, None, write(tmp_path / "i3.csv", many))
    assert count(engine, "interactions") == 4 + 10
    assert {ix["name"] for ix in inspect(engine).get_indexes("interactions")} == indexes_before


def test_a_bom_and_windows_line_ends_read_like_a_plain_file(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_csv(engine, write(tmp_path / "items.csv", ITEMS),
               write(tmp_path / "interactions.csv", INTERACTIONS))
    plain = snapshot(engine)
    dos_items = "\ufeff" + ITEMS.replace("\n", "\r\n")
    dos_inter = "\ufeff" + INTERACTIONS.replace("\n", "\r\n")
    ingest_csv(engine, write(tmp_path / "items_dos.csv", dos_items),
               write(tmp_path / "inter_dos.csv", dos_inter))
    assert snapshot(engine) == plain
    # a quoted field across lines keeps its line break; the next row's line number follows it
    bad = write(tmp_path / "multi.csv",
                'item_id,title,description\nx1,One,"two\r\nlines"\nx2,,\n')
    with pytest.raises(IngestError) as err:
        ingest_csv(engine, bad, None)
    assert (err.value.line, err.value.message) == (4, "missing title")
