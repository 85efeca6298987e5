"""Running conversations: one episode (:func:`run_episode`), every episode against one
system (:func:`run_conversations`), and the matrix of systems x variants x cutoffs
(:func:`run_matrix`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from recagent.simulation.baselines import CFFloor, FilterFloor
from recagent.simulation.episodes import Episode, SimCatalog
from recagent.simulation.errors import SimulationError
from recagent.simulation.metrics import REPORT_KS, percentile, summarize
from recagent.simulation.systems import AgentSystem, HttpSystem, System
from recagent.simulation.transcript import EpisodeResult, TurnRecord
from recagent.simulation.user import ACCEPT_K, DEFAULT_PHRASINGS, Phrasings, SimulatedUser
from recagent.simulation.workspace import Workspace

Variant = Literal["history", "cold"]


async def run_episode(system: System, episode: Episode, *, seed: int, cold_start: bool,
                      max_turns: int, restate: bool = False, k: int = ACCEPT_K,
                      phrasings: Phrasings = DEFAULT_PHRASINGS) -> EpisodeResult:
    """One conversation with a user who is shown ``k`` items a turn and accepts when the
    target is among them."""
    user = SimulatedUser(episode, seed=seed, cold_start=cold_start, restate=restate, k=k,
                         phrasings=phrasings)
    await system.start(episode, cold_start=cold_start)
    utterance = user.opening()
    shown: set[str] = set()
    turns: list[TurnRecord] = []
    latencies: list[float] = []
    for turn in range(1, max_turns + 1):
        started = time.perf_counter()
        reply = await system.turn(utterance, user)
        latencies.append(time.perf_counter() - started)
        items = reply.item_ids
        rank = items.index(episode.target_id) + 1 if episode.target_id in items else None
        repeats = sum(1 for i in items if i in shown)
        shown.update(items)
        turns.append(TurnRecord(
            turn=turn, user=utterance.text,
            revealed=utterance.revealed.label() if utterance.revealed else None,
            items=list(items), rank=rank, repeats=repeats, reply=reply.reply[:300],
            llm_calls=reply.llm_calls, tool_calls=reply.tool_calls, tools=reply.tools,
        ))
        utterance = user.react(items)
        if utterance.kind == "accept":
            break
    return EpisodeResult(episode.user_id, episode.target_id, turns, utterance.text, latencies)


@dataclass
class RunResult:
    system: str
    variant: Variant
    episodes: list[EpisodeResult]
    max_turns: int
    seconds: float = 0.0
    k: int = ACCEPT_K  # the user saw k items a turn and accepted in the top k

    def metrics(self) -> dict[str, Any]:
        return summarize(self.episodes, self.max_turns, ks=(self.k,))

    def timing(self) -> dict[str, float]:
        lat = sorted(x for e in self.episodes for x in e.latencies_s)
        return {
            "turns": len(lat),
            "p50_ms": round(percentile(lat, 50) * 1e3, 2),
            "p99_ms": round(percentile(lat, 99) * 1e3, 2),
            "mean_ms": round(statistics.fmean(lat) * 1e3, 2) if lat else 0.0,
            "seconds": round(self.seconds, 1),
        }


async def run_conversations(system: System, episodes: Sequence[Episode], *, seed: int,
                            cold_start: bool, max_turns: int, restate: bool = False,
                            k: int = ACCEPT_K,
                            progress: Callable[[int, int], None] | None = None,
                            phrasings: Phrasings = DEFAULT_PHRASINGS) -> RunResult:
    """Every episode, one after the other (sequential: deterministic and gentle on CPUs),
    each user shown ``k`` items a turn."""
    started = time.perf_counter()
    results = []
    for i, episode in enumerate(episodes):
        results.append(await run_episode(system, episode, seed=seed, cold_start=cold_start,
                                         max_turns=max_turns, restate=restate, k=k,
                                         phrasings=phrasings))
        if progress is not None:
            progress(i + 1, len(episodes))
    name = system.name + (" (restating user)" if restate else "")
    return RunResult(name, "cold" if cold_start else "history", results, max_turns,
                     time.perf_counter() - started, k)


SystemName = Literal["agent", "cf-floor", "filter-floor"]


async def run_matrix(
    workspace: Workspace,
    episodes: Sequence[Episode],
    catalog: SimCatalog,
    *,
    seed: int,
    max_turns: int,
    systems: Sequence[SystemName] = ("agent", "cf-floor", "filter-floor"),
    variants: Sequence[Variant] = ("history", "cold"),
    ks: Sequence[int] = REPORT_KS,
    url: str | None = None,
    restate: bool = False,
    progress: Callable[[str], None] | None = None,
    phrasings: Phrasings = DEFAULT_PHRASINGS,
) -> list[RunResult]:
    """Run every (system, variant, k), k = the items shown per turn and the acceptance
    cutoff; the agent in process, or over HTTP when ``url``.
    ``restate``: the simulated user restates everything it revealed in every message (a
    diagnostic of the agent's multi-turn memory)."""
    say = progress or (lambda _m: None)
    runs: list[RunResult] = []
    for name in systems:
        system: Any
        if name == "agent":
            if url is not None:
                system = HttpSystem(url)
                try:
                    await system.check(workspace)
                except BaseException:
                    await system.aclose()
                    raise
            else:
                system = await AgentSystem.build(workspace, seed=seed)
        elif name == "cf-floor":
            system = CFFloor.build(workspace, catalog, max_turns=max_turns)
        elif name == "filter-floor":
            system = FilterFloor(catalog)
        else:
            raise SimulationError(f"unknown system {name!r}")
        try:
            for variant in variants:
                for k in ks:
                    say(f"{name} / {variant} / k={k}: {len(episodes)} conversations")
                    step = max(1, len(episodes) // 10)

                    def tick(done: int, total: int, _n: str = name, _v: str = variant,
                             _s: int = step, _k: int = k) -> None:
                        if done % _s == 0 or done == total:
                            say(f"  {_n}/{_v}/k={_k}: {done}/{total}")

                    runs.append(await run_conversations(
                        system, episodes, seed=seed, cold_start=variant == "cold",
                        max_turns=max_turns, restate=restate, k=k, progress=tick,
                        phrasings=phrasings,
                    ))
        finally:
            await system.aclose()
    return runs
