"""Episodes (targets held out) and the metrics computed from transcripts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from recagent import simulation as sim


def test_the_target_is_the_last_positive_rating() -> None:
    rows = [
        ("1", "10", 5.0, 100), ("1", "11", 4.0, 300), ("1", "12", 2.0, 900),  # 12: not positive
        ("2", "7", 4.5, 50), ("2", "30", 4.0, 50), ("2", "9", 4.0, 50),  # tie: larger id wins
        ("3", "5", 3.5, 10),  # no positive rating: no episode
    ]
    targets = sim.choose_targets(rows)
    assert {u: t.item_id for u, t in targets.items()} == {"1": "11", "2": "30"}


def test_workspace_holds_out_exactly_the_targets(mini_workspace: sim.Workspace,
                                                 mini_ml_dir: Path) -> None:
    from tools.catalog.db import make_engine
    from tools.catalog.models import Interaction
    from tools.recommenders.artifacts import load_bundle

    all_rows = sim.read_ratings(mini_ml_dir / "ratings.csv")
    engine = make_engine(mini_workspace.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Interaction)).scalar_one()
            pairs = set(conn.execute(select(Interaction.user_id, Interaction.item_id)).all())
    finally:
        engine.dispose()
    assert stored == len(all_rows) - len(mini_workspace.targets) > 0
    assert all((t.user_id, t.item_id) not in pairs for t in mini_workspace.targets.values())
    # the models were trained on the held-out catalog: no target is among its user's seen
    # items, so the CF model can still recommend it to that user
    model = load_bundle(mini_workspace.model_dir).default
    known = [t for t in mini_workspace.targets.values() if model.knows_item(t.item_id)]
    assert len(known) > len(mini_workspace.targets) // 2
    for t in known:
        got = model.recommend(t.user_id, 1, exclude_seen=True, candidates=[t.item_id])
        assert [s.item_id for s in got] == [t.item_id]
    # reused, not rebuilt, the second time
    again = sim.prepare_workspace(mini_ml_dir, mini_workspace.root.parent, seed=7)
    assert again.root == mini_workspace.root
    assert list(again.model_dir.iterdir()) == list(mini_workspace.model_dir.iterdir())


def test_episode_history_excludes_the_target(mini_episodes: list[sim.Episode]) -> None:
    assert mini_episodes
    for e in mini_episodes:
        assert e.target_id not in e.seen
        assert all(a.item_id in e.seen and a.item_id != e.target_id for a in e.similar)


def _turn(turn: int, items: list[str], target: str, repeats: int = 0) -> sim.TurnRecord:
    rank = items.index(target) + 1 if target in items else None
    return sim.TurnRecord(turn, "msg", None, items, rank, repeats, "", 1, 3)


def _episode(ranks: list[int | None], repeats: int = 0) -> sim.EpisodeResult:
    turns = []
    for i, rank in enumerate(ranks, start=1):
        items = [f"x{i}_{j}" for j in range(10)]
        if rank is not None:
            items[rank - 1] = "T"
        turns.append(_turn(i, items, "T", repeats))
    return sim.EpisodeResult("u", "T", turns, "")


def test_success_turns_hdcg_and_repeats() -> None:
    eps = [
        _episode([1]),  # found at once, rank 1
        _episode([None, None, 2]),  # turn 3, rank 2
        _episode([7, None, None, None, None, 3]),  # top 10 at turn 1, top 5 only at turn 6
        _episode([None] * 15, repeats=2),  # never, and 2 repeated items a turn
    ]
    m = sim.summarize(eps, max_turns=15)
    assert m["users"] == 4
    assert m["success@5_k5"] == 0.5
    assert m["success@15_k5"] == 0.75
    assert m["success@5_k10"] == 0.75
    assert m["avg_turns_k5"] == pytest.approx((1 + 3 + 6 + 15) / 4, abs=1e-3)
    assert m["avg_turns_k10"] == pytest.approx((1 + 3 + 1 + 15) / 4, abs=1e-3)
    expected = (1.0 + 1 / math.log2(4) / math.log2(3) + 1 / math.log2(7) / math.log2(4)) / 4
    assert m["hdcg_k5"] == pytest.approx(expected, abs=1e-4)
    assert m["rank_at_hit_k5"] == pytest.approx((1 + 2 + 3) / 3, abs=1e-3)
    assert m["turns_total"] == 1 + 3 + 6 + 15
    assert m["repeated_items_per_turn"] == pytest.approx(30 / 25, abs=1e-4)
    assert m["conversations_with_repeats"] == 0.25
    assert m["llm_calls_per_turn"] == 1 and m["tool_calls_per_turn"] == 3
    # a shorter budget drops the T=15 column and counts failures as the budget
    short = sim.summarize(eps, max_turns=5)
    assert "success@15_k5" not in short
    assert short["hdcg_k5"] < m["hdcg_k5"]


def test_trace_counts_reads_the_agent_trace() -> None:
    trace = {
        "llm": {"calls": 2},
        "attempts": [{"tools": [{"name": "filter_items"}, {"name": "rank_for_user"}]},
                     {"tools": [{"name": "rank_by_popularity"}]}],
    }
    assert sim.trace_counts(trace) == (2, 3)
    assert sim.trace_counts({}) == (0, 0)


def test_seeded_sample_is_stable_and_sorted(ml_episodes: list[sim.Episode]) -> None:
    a = sim.sample_episodes(ml_episodes, 25, seed=1)
    assert a == sim.sample_episodes(ml_episodes, 25, seed=1)
    assert a != sim.sample_episodes(ml_episodes, 25, seed=2)
    assert len(a) == 25 and a == sorted(a, key=lambda e: int(e.user_id))
    assert sim.sample_episodes(ml_episodes, None, seed=1) == ml_episodes


def test_each_cutoff_is_its_own_run_and_the_table_joins_them() -> None:
    at5 = sim.RunResult("agent", "history", [_episode([7, 2]), _episode([None] * 5)], 5, k=5)
    at10 = sim.RunResult("agent", "history", [_episode([7]), _episode([None, None, 9])], 5,
                         k=10)
    m5, m10 = at5.metrics(), at10.metrics()
    assert m5["success@5_k5"] == 0.5 and "success@5_k10" not in m5
    assert m10["success@5_k10"] == 1.0 and "success@5_k5" not in m10
    assert m10["avg_turns_k10"] == pytest.approx((1 + 3) / 2)
    table = sim.format_table([at5, at10]).splitlines()
    assert len(table) == 3, "one row per (system, variant)"
    head = [c.strip() for c in table[0].strip("|").split("|")]
    row = [c.strip() for c in table[2].strip("|").split("|")]
    assert row[head.index("S@5 k=5")] == "0.500" and row[head.index("S@5 k=10")] == "1.000"
    assert row[head.index("rank@hit")] == "2.00"  # from the k=5 conversations
