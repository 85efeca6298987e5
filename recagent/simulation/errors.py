"""The simulator's error: the simulation cannot run."""

from __future__ import annotations


class SimulationError(RuntimeError):
    """The simulation cannot run (missing data, unreachable server, bad arguments)."""
