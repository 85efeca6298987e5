"""Interaction log -> confidence matrix, fingerprint, reading the catalog table."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, insert

from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.models import Interaction, Item
from tools.recommenders.data import InteractionLog, from_triples, load_interactions, load_log


def test_ratings_become_confidences_and_unrated_counts_as_one() -> None:
    data = from_triples([("u1", "a", 5.0), ("u1", "b", 1.0), ("u2", "a", None)])
    dense = data.matrix.toarray()
    assert list(data.user_ids) == ["u1", "u2"] and list(data.item_ids) == ["a", "b"]
    assert dense[0, 0] == 2.0 and dense[0, 1] == 1.2 and dense[1, 0] == 1.0
    assert data.matrix.dtype == np.float32


def test_min_rating_drops_low_ratings_but_keeps_unrated() -> None:
    data = from_triples([("u1", "a", 5.0), ("u1", "b", 1.0), ("u2", "b", None)],
                        min_rating=3.0)
    assert data.matrix.nnz == 2
    assert set(data.item_ids) == {"a", "b"}


def test_fingerprint_ignores_row_order_but_not_content() -> None:
    rows = [("u1", "a", 4.0, 10), ("u2", "b", 3.0, 11), ("u1", "c", None, None)]
    fp = InteractionLog.from_arrays(*zip(*rows, strict=True)).fingerprint()
    rev = InteractionLog.from_arrays(*zip(*rows[::-1], strict=True)).fingerprint()
    changed = InteractionLog.from_arrays(
        *zip(*[*rows[:2], ("u1", "c", 1.0, None)], strict=True)).fingerprint()
    assert fp == rev and fp != changed and len(fp) == 64


def test_duplicate_pairs_keep_the_last_row() -> None:
    log = InteractionLog.from_arrays(["u", "u"], ["a", "a"], [1.0, 5.0], [1, 2])
    assert len(log) == 1 and log.ratings[0] == 5.0 and log.ts[0] == 2


def test_load_from_the_catalog_table(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(Item), [{"item_id": i, "title": i, "title_norm": i}
                                    for i in ("m1", "m2", "m3")])
        conn.execute(insert(Interaction), [
            {"user_id": "7", "item_id": "m1", "rating": 4.0, "ts": 100},
            {"user_id": "7", "item_id": "m2", "rating": None, "ts": None},
            {"user_id": "8", "item_id": "m2", "rating": 2.0, "ts": 50},
        ])
    log = load_log(engine)
    assert len(log) == 3
    assert sorted(log.ts.tolist())[1:] == [50, 100]
    data = load_interactions(engine)
    assert data.matrix.shape == (2, 2)  # m3 has no interaction
    assert data.fingerprint == log.fingerprint()
    assert load_interactions(engine, min_rating=3.0).matrix.nnz == 2
    engine.dispose()


def test_streamed_load_equals_the_rows_in_table_order(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunked SQL -> columns path (SQLite: coded by the database) gives exactly the log
    built from the rows as the table returns them: ids, codes, missing ratings and stamps,
    row order (the evaluation split's tie-break depends on it), across chunks and gaps."""
    import tools.recommenders.data as data_module

    engine = make_engine(db_url)
    ensure_schema(engine)
    items = ["m1", "m2", "é3", "m,4"]
    triples: list[tuple[str, str, float | None, int | None]] = [
        ("7", "m2", None, None), ("7", "m1", 4.5, 100), ("z", "é3", 0.1, -5),
        ("8", "m2", 2.0, 50), ("a b", "m,4", 1.0, 253_402_300_799), ("8", "m1", None, 7),
        ("gone", "m1", 3.0, 1),
    ]
    rows = [{"user_id": u, "item_id": i, "rating": r, "ts": t} for u, i, r, t in triples]
    with engine.begin() as conn:
        conn.execute(insert(Item), [{"item_id": i, "title": i, "title_norm": i} for i in items])
        conn.execute(insert(Interaction), rows)
        conn.execute(delete(Interaction).where(Interaction.user_id == "gone"))
    kept = [t for t in triples if t[0] != "gone"]
    expected = InteractionLog.from_arrays(
        [u for u, _, _, _ in kept], [i for _, i, _, _ in kept],
        [r for _, _, r, _ in kept], [t for _, _, _, t in kept],
    )
    monkeypatch.setattr(data_module, "_CHUNK", 2)
    for _ in range(2):  # twice on the same pool: nothing is left behind on the connection
        log = load_log(engine)
        for name in ("user_ids", "item_ids", "users", "items", "ts"):
            assert getattr(log, name).tolist() == getattr(expected, name).tolist(), name
        np.testing.assert_array_equal(log.ratings, expected.ratings)
        assert log.fingerprint() == expected.fingerprint()
    engine.dispose()


def test_an_empty_table_loads_as_an_empty_log(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    ensure_schema(engine)
    assert len(load_log(engine)) == 0
    engine.dispose()
