"""The systems under test: the agent in process (:class:`AgentSystem`) and over HTTP
(:class:`HttpSystem`), behind the small :class:`System` protocol the floors
(:mod:`recagent.simulation.baselines`) implement too."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from recagent.runtime import build_runtime
from recagent.settings import load_settings
from recagent.simulation.episodes import Episode
from recagent.simulation.errors import SimulationError
from recagent.simulation.user import SimulatedUser, Utterance
from recagent.simulation.workspace import Workspace
from tools.recommenders.artifacts import latest_artifact


@dataclass
class SystemReply:
    item_ids: list[str]
    reply: str = ""
    llm_calls: int | None = None  # None: not an LLM system
    tool_calls: int | None = None
    tools: list[str] = field(default_factory=list)  # the tool calls of the plan that answered


class System(Protocol):
    name: str

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        """A fresh conversation for ``episode`` (anonymous when ``cold_start``)."""

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply: ...

    async def aclose(self) -> None: ...


def trace_tools(trace: dict[str, Any]) -> list[str]:
    """"name(args)" of each tool the final plan attempt ran (what answered the turn)."""
    attempts = trace.get("attempts") or []
    if not attempts:
        return []
    out = []
    for call in attempts[-1].get("calls") or []:
        args = json.dumps(call.get("args") or {}, sort_keys=True, separators=(",", ":"))
        out.append(f"{call.get('name')}({args[1:-1]})")
    return out


def trace_counts(trace: dict[str, Any]) -> tuple[int, int]:
    """(LLM calls, tool calls) of one turn's trace (``agent.trace.TurnTrace.to_dict``)."""
    llm = trace.get("llm")
    if isinstance(llm, dict) and isinstance(llm.get("calls"), int):
        llm_calls = int(llm["calls"])
    else:
        llm_calls = len(trace.get("llm_calls") or [])
    tool_calls = sum(len(a.get("tools") or []) for a in trace.get("attempts") or [])
    return llm_calls, tool_calls


class AgentSystem:
    """The agent in process: ``build_runtime(settings)`` and ``runtime.agent.turn``, on a
    fresh copy of the held-out catalog (removed again by :meth:`aclose`)."""

    name = "agent"

    def __init__(self, agent: Any, closer: Callable[[], Any] | None = None,
                 scratch: Path | None = None) -> None:
        self._agent = agent
        self._closer = closer
        self._scratch = scratch
        self._session_id: str | None = None
        self._user_id: str | None = None

    @classmethod
    async def build(cls, workspace: Workspace, *, seed: int) -> AgentSystem:
        scratch = Path(tempfile.mkdtemp(prefix="recagent-sim-"))
        try:
            url = await asyncio.to_thread(workspace.fresh_database, scratch / "catalog.db")
            settings = load_settings(
                database_url=url, model_dir=workspace.model_dir, redis_url=None, llm="rules",
                seed=seed, learn_demonstrations=False,
            )
            runtime = await build_runtime(settings)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return cls(runtime.agent, runtime.aclose, scratch)

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        self._session_id = None
        self._user_id = None if cold_start else episode.user_id

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        result = await self._agent.turn(utterance.text, session_id=self._session_id,
                                        user_id=self._user_id, limit=user.k)
        self._session_id = result.session_id
        llm_calls, tool_calls = trace_counts(result.trace or {})
        return SystemReply([r.item_id for r in result.recommendations], result.reply,
                           llm_calls, tool_calls, trace_tools(result.trace or {}))

    async def aclose(self) -> None:
        try:
            if self._closer is not None:
                await self._closer()
                self._closer = None
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None


class HttpSystem:
    """The agent over HTTP: ``POST {url}/v1/chat`` with httpx."""

    name = "agent"

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)
        self._session_id: str | None = None
        self._user_id: str | None = None

    async def check(self, workspace: Workspace | None = None) -> None:
        """The server answers, and (given ``workspace``) serves its held-out models: a
        server on the full data has seen every target and would make the numbers lie."""

        try:
            resp = await self._client.get("/readyz")
        except httpx.HTTPError as exc:
            raise SimulationError(f"cannot reach {self.url}: {exc}") from None
        if resp.status_code != 200:
            raise SimulationError(f"{self.url}/readyz answered {resp.status_code}: "
                                  f"{resp.text[:300]}")
        if workspace is None:
            return
        artifact = latest_artifact(workspace.model_dir)
        if artifact is None or artifact.name not in resp.text:
            raise SimulationError(
                f"{self.url} does not serve the held-out models "
                f"({artifact.name if artifact else workspace.model_dir}); start it with the "
                "env printed by `recagent simulate --prepare`")

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        self._session_id = None
        self._user_id = None if cold_start else episode.user_id

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        body: dict[str, Any] = {"message": utterance.text, "limit": user.k}
        if self._session_id is not None:
            body["session_id"] = self._session_id
        if self._user_id is not None:
            body["user_id"] = self._user_id
        resp = await self._client.post("/v1/chat", json=body)
        if resp.status_code != 200:
            raise SimulationError(f"POST {self.url}/v1/chat answered {resp.status_code}: "
                                  f"{resp.text[:300]}")
        data = resp.json()
        self._session_id = data["session_id"]
        trace = data.get("trace") or {}
        llm_calls, tool_calls = trace_counts(trace)
        return SystemReply([str(r["item_id"]) for r in data.get("recommendations", [])],
                           str(data.get("reply", "")), llm_calls, tool_calls, trace_tools(trace))

    async def aclose(self) -> None:
        await self._client.aclose()
