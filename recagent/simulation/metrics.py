"""The metrics of a run: success within T turns at cutoff k, average turns, hDCG, rank at
hit, repeats, empty turns, LLM and tool calls per turn (definitions in ``docs/simulate.md``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from recagent.simulation.transcript import EpisodeResult

REPORT_KS = (5, 10)  # cutoffs run, each as SEPARATE conversations showing exactly k items
REPORT_TS = (5, 15)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation between the closest ranks); 0 if empty."""
    return float(np.percentile(values, q)) if len(values) else 0.0


def hdcg(episode: EpisodeResult, *, k: int, max_turns: int) -> float:
    """1 / log2(1 + turn) * 1 / log2(1 + rank) of the first turn (<= ``max_turns``) whose
    top ``k`` holds the target; 0 if none. 1.0 = found at rank 1 in the first turn."""
    turn = episode.first_hit(k)
    if turn is None or turn > max_turns:
        return 0.0
    rank = episode.turns[turn - 1].rank
    assert rank is not None
    return 1.0 / math.log2(1 + turn) / math.log2(1 + rank)


def summarize(episodes: Sequence[EpisodeResult], max_turns: int,
              ks: Sequence[int] = REPORT_KS) -> dict[str, Any]:
    """The deterministic metrics of one run at the cutoffs ``ks`` (a run's own cutoff: the
    user saw that many items; see ``docs/simulate.md`` for definitions)."""
    n = len(episodes)
    out: dict[str, Any] = {"users": n}
    if n == 0:
        return out
    for k in ks:
        hits = [e.first_hit(k) for e in episodes]
        for t in REPORT_TS:
            if t <= max_turns:
                out[f"success@{t}_k{k}"] = round(sum(1 for h in hits if h and h <= t) / n, 4)
        out[f"avg_turns_k{k}"] = round(
            statistics.fmean(h if h is not None else max_turns for h in hits), 3)
        out[f"hdcg_k{k}"] = round(
            statistics.fmean(hdcg(e, k=k, max_turns=max_turns) for e in episodes), 4)
        ranks = [e.turns[h - 1].rank for e in episodes if (h := e.first_hit(k))]
        out[f"rank_at_hit_k{k}"] = (
            round(statistics.fmean(r for r in ranks if r), 3) if ranks else None)
    turns = [t for e in episodes for t in e.turns]
    out["turns_total"] = len(turns)
    out["repeated_items_per_turn"] = round(sum(t.repeats for t in turns) / len(turns), 4)
    out["conversations_with_repeats"] = round(
        sum(1 for e in episodes if any(t.repeats for t in e.turns)) / n, 4)
    out["empty_turns"] = sum(1 for t in turns if not t.items)
    llm = [t.llm_calls for t in turns if t.llm_calls is not None]
    tools = [t.tool_calls for t in turns if t.tool_calls is not None]
    out["llm_calls_per_turn"] = round(statistics.fmean(llm), 3) if llm else None
    out["tool_calls_per_turn"] = round(statistics.fmean(tools), 3) if tools else None
    return out
