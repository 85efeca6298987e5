"""A clock the tests move by hand, for the code that takes one (``clock=``): session expiry,
rate-limit buckets, the kept /readyz answer. No test sleeps to let time pass."""

from __future__ import annotations


class ManualClock:
    """Seconds that move only when told (:meth:`advance`); call it to read the time."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
