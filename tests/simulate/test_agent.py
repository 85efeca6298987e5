"""The agent under simulation: in process and over HTTP against a real uvicorn server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recagent import simulation as sim

USERS = 5
TURNS = 3


def _run_inprocess(workspace: sim.Workspace, episodes: list[sim.Episode],
                   variant: sim.Variant = "history") -> sim.RunResult:
    async def go() -> sim.RunResult:
        system = await sim.AgentSystem.build(workspace, seed=7)
        try:
            return await sim.run_conversations(system, episodes, seed=7,
                                               cold_start=variant == "cold", max_turns=TURNS)
        finally:
            await system.aclose()

    return asyncio.run(go())


def _transcript(run: sim.RunResult) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    return [(e.user_id, [(t.user, t.items) for t in e.turns]) for e in run.episodes]


@pytest.fixture(scope="module")
def sample(mini_episodes: list[sim.Episode]) -> list[sim.Episode]:
    return sim.sample_episodes(mini_episodes, USERS, seed=7)


@pytest.fixture(scope="module")
def inprocess_run(mini_workspace: sim.Workspace, sample: list[sim.Episode]) -> sim.RunResult:
    return _run_inprocess(mini_workspace, sample)


def test_agent_conversations_are_recorded(inprocess_run: sim.RunResult,
                                          sample: list[sim.Episode]) -> None:
    assert [e.user_id for e in inprocess_run.episodes] == [e.user_id for e in sample]
    for episode, result in zip(sample, inprocess_run.episodes, strict=True):
        assert 1 <= len(result.turns) <= TURNS
        first = result.turns[0]
        assert first.items, f"no recommendations for {first.user!r}: {first.reply!r}"
        assert all(len(t.items) <= sim.ACCEPT_K for t in result.turns), "the user sees k"
        assert first.llm_calls is not None and first.llm_calls >= 1
        assert first.tool_calls is not None and first.tool_calls >= 1
        for turn in result.turns:
            assert turn.rank == (turn.items.index(episode.target_id) + 1
                                 if episode.target_id in turn.items else None)
        if result.turns[-1].rank is not None and result.turns[-1].rank <= sim.ACCEPT_K:
            assert result.final != result.turns[-1].user  # it accepted
    metrics = inprocess_run.metrics()
    assert metrics["users"] == USERS and metrics["turns_total"] >= USERS


def test_same_seed_same_transcript(mini_workspace: sim.Workspace, sample: list[sim.Episode],
                                   inprocess_run: sim.RunResult) -> None:
    again = _run_inprocess(mini_workspace, sample)
    config = {"seed": 7}
    assert sim.deterministic_part(sim.report_json([again], config=config)) == \
        sim.deterministic_part(sim.report_json([inprocess_run], config=config))


def test_cold_start_sessions_are_anonymous(mini_workspace: sim.Workspace,
                                          sample: list[sim.Episode]) -> None:
    cold = _run_inprocess(mini_workspace, sample[:2], variant="cold")
    assert all(e.turns[0].items for e in cold.episodes)
    assert cold.variant == "cold"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(mini_workspace: sim.Workspace, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """A real uvicorn server (its own process) serving the held-out world on loopback."""
    port = _free_port()
    scratch = tmp_path_factory.mktemp("server")
    url_db = mini_workspace.fresh_database(scratch / "serve.db")
    env = {**os.environ, **mini_workspace.env(url_db), "RECAGENT_SEED": "7",
           "RECAGENT_REDIS_URL": "", "OPENBLAS_NUM_THREADS": "1"}
    log = scratch / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2],
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_http_mode_gives_the_same_conversations(server_url: str, sample: list[sim.Episode],
                                                mini_workspace: sim.Workspace,
                                                inprocess_run: sim.RunResult) -> None:
    async def go() -> sim.RunResult:
        system = sim.HttpSystem(server_url)
        try:
            await system.check(mini_workspace)
            return await sim.run_conversations(system, sample, seed=7, cold_start=False,
                                               max_turns=TURNS)
        finally:
            await system.aclose()

    over_http = asyncio.run(go())
    assert _transcript(over_http) == _transcript(inprocess_run)
    assert over_http.metrics() == inprocess_run.metrics()


def test_http_mode_refuses_a_server_without_the_held_out_models(
        server_url: str, mini_ml_dir: Path, tmp_path: Path) -> None:
    other = sim.prepare_workspace(mini_ml_dir, tmp_path, seed=8)  # another world

    async def go() -> None:
        system = sim.HttpSystem(server_url)
        try:
            await system.check(other)
        finally:
            await system.aclose()

    with pytest.raises(sim.SimulationError, match="does not serve the held-out models"):
        asyncio.run(go())
