"""Admission control: at most N turns run at once per process; the rest wait their turn.

A turn is CPU work spread over several worker-thread hops; running dozens at once on a
couple of cores only makes them all slow (thread-pool queueing, GIL hand-offs) and lowers
throughput. Waiting in a FIFO queue in front of a small number of running turns keeps the
throughput of light load and makes latency grow evenly, instead of a long tail. That holds
for the CPU-bound offline planner; a turn that waits on a remote model is I/O-bound, so the
limit follows the backend (:func:`turn_limit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recagent.settings import Settings

# the rules planner is CPU-bound: a few turns at a time keep throughput up on a small machine;
# a turn behind a remote model mostly waits on the network (I/O-bound), so many may run at once
RULES_TURNS = 2
LLM_TURNS = 64


def turn_limit(settings: Settings) -> int:
    """Turns allowed at once: ``RECAGENT_MAX_CONCURRENT_TURNS``, else by backend."""
    if settings.max_concurrent_turns is not None:
        return settings.max_concurrent_turns
    return RULES_TURNS if settings.llm_provider is None else LLM_TURNS


class TurnGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem: asyncio.Semaphore | None = None  # created in the serving event loop

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        async with self._sem:
            yield
