"""The offline evaluation on logs where the right answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.recommenders.conftest import movielens_log, synthetic_log
from tools.recommenders.data import InteractionLog
from tools.recommenders.evaluation import evaluate, format_table, leave_last_out, top_n
from tools.recommenders.registry import make_model


def known_answer_log() -> InteractionLog:
    """5 users share p0..p2 then each has a filler f_u and finally 'hot' (the newest).
    3 extra users have only 'hot' (never evaluated: single interaction), so in training
    'hot' is the most popular item nobody evaluated has seen."""
    rows: list[tuple[str, str, float, int]] = []
    for u in range(5):
        rows += [(f"u{u}", f"p{k}", 4.0, 10 + k) for k in range(3)]
        rows.append((f"u{u}", f"f{u}", 3.0, 20))
        rows.append((f"u{u}", "hot", 5.0, 30))
    rows += [(f"solo{s}", "hot", 5.0, 5) for s in range(3)]
    users, items, ratings, ts = zip(*rows, strict=True)
    return InteractionLog.from_arrays(users, items, ratings, ts)


def test_leave_last_out_holds_out_each_users_newest_interaction() -> None:
    log = known_answer_log()
    train, test = leave_last_out(log)
    assert len(test) == 5  # the solo users are not evaluated
    assert set(log.item_ids[log.items[test]]) == {"hot"}
    assert train.sum() == len(log) - 5
    assert set(log.user_ids[log.users[~train]]) == {f"u{u}" for u in range(5)}


def test_popularity_scores_exactly_what_the_construction_implies() -> None:
    result = evaluate(known_answer_log(), models=["popularity"])
    m = result["models"]["popularity"]
    assert result["users"] == 5
    assert m["hr@10"] == 1.0 and m["ndcg@10"] == 1.0 and m["recall@20"] == 1.0
    # train catalog: p0-p2, f0-f4, hot = 9 items; the top-10s show hot + the 5 fillers
    assert result["items"] == 9
    assert m["coverage@10"] == pytest.approx(6 / 9)


def test_a_test_item_unseen_in_training_is_a_miss() -> None:
    log = known_answer_log()
    users, items = log.user_ids[log.users], log.item_ids[log.items]
    ts = log.ts.copy()
    ts[items == "hot"] = 0  # now every user's newest interaction is their unique filler
    shuffled = InteractionLog.from_arrays(users, items, log.ratings, ts)
    m = evaluate(shuffled, models=["popularity"])["models"]["popularity"]
    assert m["hr@10"] == 0.0 and m["ndcg@10"] == 0.0


def test_a_cf_model_beats_popularity_on_clustered_users() -> None:
    result = evaluate(synthetic_log(seed=3), models=["als", "itemknn", "popularity"])
    models = result["models"]
    for name in ("als", "itemknn"):
        assert models[name]["hr@10"] > models["popularity"]["hr@10"]
        assert models[name]["ndcg@10"] > models["popularity"]["ndcg@10"]
    table = format_table(result)
    assert table.count("\n| ") == 4  # header + 3 models
    assert "| als |" in table


def test_same_seed_same_numbers_and_nothing_to_evaluate_is_an_error() -> None:
    log = synthetic_log(seed=4)
    first, second = (evaluate(log, models=["als", "bpr"], seed=1)["models"] for _ in range(2))
    for name in ("als", "bpr"):
        for metric in ("hr@10", "ndcg@10", "recall@20", "coverage@10"):
            assert first[name][metric] == second[name][metric]
    single = InteractionLog.from_arrays(["a", "b"], ["x", "y"], None, None)
    with pytest.raises(ValueError, match="two or more"):
        evaluate(single, models=["popularity"])


def test_ranking_excludes_training_items() -> None:
    # a user who has seen every item but the held-out one: that item must be ranked first
    rows = [(u, f"i{k}", 1.0, k) for u in ("u", "v") for k in range(6)] + [("w", "i5", 1.0, 0)]
    users, items, ratings, ts = zip(*rows, strict=True)
    log = InteractionLog.from_arrays(users, items, ratings, np.asarray(ts))
    m = evaluate(log, models=["popularity", "itemknn"])["models"]
    for name in ("popularity", "itemknn"):
        assert m[name]["hr@10"] == 1.0 and m[name]["ndcg@10"] == 1.0
        assert m[name]["coverage@10"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("name", ["als", "bpr", "itemknn", "popularity"])
def test_batched_ranking_is_the_dense_ranking(name: str, ml_dir: Path) -> None:
    """top_n (implicit's top-k / the sparse item-kNN product) picks and orders exactly what
    ranking every item densely does, ties straddling the cut included (popularity's equal
    counts), on MovieLens and on a small log where users run out of positive scores."""
    for log in (movielens_log(ml_dir), synthetic_log(seed=5)):
        train_mask, _ = leave_last_out(log)
        data = log.subset(train_mask).to_data(fingerprint="")
        model = make_model(name)
        model.fit(data)
        rows = np.arange(data.matrix.shape[0])
        for n in (10, 20):
            assert top_n(model, rows, n).tolist() == model.top_n_rows(rows, n).tolist()
