"""The report of a run: the JSON (deterministic for a seed, apart from ``timing``) and the
Markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recagent.simulation.conversation import RunResult
from recagent.simulation.metrics import REPORT_TS
from recagent.simulation.user import ACCEPT_K


def report_json(runs: Sequence[RunResult], *, config: dict[str, Any],
                transcripts: bool = True) -> dict[str, Any]:
    """The JSON report. Everything but ``timing`` is the same for the same seed."""
    return {
        "config": config,
        "runs": [
            {
                "system": r.system, "variant": r.variant, "k": r.k, "metrics": r.metrics(),
                **({"episodes": [e.to_json() for e in r.episodes]} if transcripts else {}),
            }
            for r in runs
        ],
        "timing": {f"{r.system}/{r.variant}/k{r.k}": r.timing() for r in runs},
    }


def deterministic_part(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "timing"}


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "-"
    if pct:
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_table(runs: Sequence[RunResult]) -> str:
    """A Markdown table: one row per (system, variant). The S@T k=K columns come from that
    cutoff's own conversations; the other columns from the k=5 conversations (or the first
    cutoff run, named in the header)."""
    if not runs:
        return "(no runs)"
    max_turns = runs[0].max_turns
    ts = [t for t in REPORT_TS if t <= max_turns]
    ks = sorted({r.k for r in runs})
    main_k = ACCEPT_K if ACCEPT_K in ks else ks[0]
    head = ["system", "variant", "users"]
    for k in ks:
        head += [f"S@{t} k={k}" for t in ts]
    head += [f"avg turns k={main_k} (T={max_turns})", f"hDCG k={main_k}", "rank@hit",
             "repeats/turn", "LLM calls/turn", "tool calls/turn", "turn p50 ms", "turn p99 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: dict[tuple[str, str], dict[int, RunResult]] = {}
    for r in runs:
        rows.setdefault((r.system, r.variant), {})[r.k] = r
    for (system, variant), by_k in rows.items():
        main = by_k.get(main_k) or next(iter(by_k.values()))
        m, tm = main.metrics(), main.timing()
        row = [system, variant, str(m["users"])]
        for k in ks:
            mk = by_k[k].metrics() if k in by_k else {}
            row += [_fmt(mk.get(f"success@{t}_k{k}"), pct=True) for t in ts]
        row += [_fmt(m.get(f"avg_turns_k{main.k}")), _fmt(m.get(f"hdcg_k{main.k}"), pct=True),
                _fmt(m.get(f"rank_at_hit_k{main.k}")),
                _fmt(m.get("repeated_items_per_turn"), pct=True),
                _fmt(m.get("llm_calls_per_turn")), _fmt(m.get("tool_calls_per_turn")),
                f"{tm['p50_ms']:.1f}", f"{tm['p99_ms']:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
