"""Calls restricted to candidates score only those rows, and agree with whole-catalog scoring.

On a 1M-item catalog scoring every item costs ~15 ms per call (issue 3 benchmark); a
candidate-restricted call must cost O(candidates), whatever the catalog size.
"""

from __future__ import annotations

import numpy as np
import pytest

from tools.recommenders.base import InteractionData
from tools.recommenders.common import MatrixRecommender
from tools.recommenders.data import InteractionLog
from tools.recommenders.topn import top_positions
from tools.recommenders.training import make_model, registry

PERSONALIZED = sorted(n for n in registry if registry[n].personalized)


@pytest.fixture(scope="module")
def ml(movielens_sample: InteractionLog) -> InteractionData:
    return movielens_sample.to_data()


@pytest.fixture(scope="module")
def models(ml: InteractionData) -> dict[str, MatrixRecommender]:
    out = {}
    for name in PERSONALIZED:
        model = make_model(name, seed=42)
        model.fit(ml)
        out[name] = model
    return out


def _no_full_scoring(model: MatrixRecommender, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> np.ndarray:
        raise AssertionError("scored the whole catalog")

    for hook in ("_user_scores", "_fold_in_scores", "_similar_scores"):
        monkeypatch.setattr(model, hook, refuse)


@pytest.mark.parametrize("name", PERSONALIZED)
def test_candidate_calls_match_whole_catalog_scoring(
        name: str, ml: InteractionData, models: dict[str, MatrixRecommender],
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = models[name]
    rng = np.random.default_rng(3)
    items = [str(i) for i in ml.item_ids]
    user = str(ml.user_ids[4])
    liked = [items[k] for k in rng.choice(len(items), 3, replace=False)]
    pool = [items[k] for k in rng.choice(len(items), 300, replace=False)] + ["no-such-item"]
    # the reference: every item scored, then the candidates looked up
    full_user = model.recommend(user, len(items), exclude_seen=False)
    by_user = {s.item_id: s.score for s in full_user}
    full_liked = {s.item_id: s.score for s in model.recommend_for_items(liked, len(items))}
    full_similar = model.similar_items(liked[:1], len(items))

    _no_full_scoring(model, monkeypatch)
    got = model.score(pool, user_id=user)
    want = [by_user.get(i, -np.inf) for i in pool]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got[-1] == -np.inf
    got_liked = model.score(pool, liked=liked)
    known = [k for k, i in enumerate(pool) if i in full_liked]
    np.testing.assert_allclose(got_liked[known], [full_liked[pool[k]] for k in known],
                               rtol=1e-5, atol=1e-6)
    top = model.similar_items(liked[:1], 10, candidates=pool)
    in_pool = set(pool)
    want_top = [s for s in full_similar if s.item_id in in_pool][:10]
    np.testing.assert_allclose([s.score for s in top], [s.score for s in want_top],
                               rtol=1e-5, atol=1e-6)
    floor = want_top[-1].score  # which of the items tied at the 10th score is unspecified
    assert ([s.item_id for s in top if s.score > floor]
            == [s.item_id for s in want_top if s.score > floor])
    recs = model.recommend(user, 10, candidates=pool)
    assert len(recs) == 10 and {r.item_id for r in recs} <= in_pool
    assert model.recommend_for_items(liked, 5, candidates=pool)


def test_top_positions_pick_the_same_set_as_argpartition_ties_included() -> None:
    rng = np.random.default_rng(0)
    for scores in (rng.standard_normal(120_000),
                   rng.integers(0, 30, 120_000).astype(np.float64),  # ties everywhere
                   np.round(rng.standard_normal(60_000), 1)):
        for n in (1, 7, 100, 999):
            got = np.sort(top_positions(scores, n))
            want = np.sort(np.argpartition(-scores, n - 1)[:n])
            np.testing.assert_array_equal(got, want)
