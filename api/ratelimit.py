"""Per-client token bucket (``RECAGENT_RATE_LIMIT_PER_MINUTE``; 0 disables).

A client is the TCP peer address (``X-Forwarded-For`` is not trusted: behind a proxy, run
uvicorn with ``--forwarded-allow-ips`` so the peer is the real client). Each client gets a
bucket of ``per_minute`` tokens refilled continuously; a request takes one; an empty bucket
answers 429 with ``Retry-After``. Buckets live in the process (per worker) and the table is
bounded: the least recently seen client is forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response_for

MAX_CLIENTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    def __init__(
        self, per_minute: int, *, max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, client: str) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class RateLimitMiddleware:
    """Applies the buckets to the API routes (``/v1/...``), not to health, metrics or static."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets,
                 on_limited: Callable[[], None] | None = None) -> None:
        self.app = app
        self.buckets = buckets
        self.on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.buckets.enabled
                or not scope["path"].startswith("/v1/") or scope["method"] == "OPTIONS"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "unknown")
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        if self.on_limited is not None:
            self.on_limited()
        retry_after = max(1, math.ceil(wait))
        response = error_response_for(scope["path"], 429, "rate_limited",
                                  f"too many requests; retry in {retry_after} s",
                                  headers={"retry-after": str(retry_after)})
        await response(scope, receive, send)
