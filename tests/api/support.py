"""Helpers shared by the API and browser tests: trained models, live servers, SSE parsing."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.routes.health import READY_TTL_S, ReadinessCache
from tests.clock import ManualClock

_TRAINED: dict[str, Path] = {}


def trained_models(db_url: str, dest: Path) -> Path:
    """Train every model once per test process on the catalog at ``db_url``."""
    if db_url not in _TRAINED:
        from tools.catalog.db import make_engine
        from tools.recommenders.training import train

        engine = make_engine(db_url)
        try:
            train(engine, dest, seed=42, evaluate=False)
        finally:
            engine.dispose()
        _TRAINED[db_url] = dest
    return _TRAINED[db_url]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server for ``app`` on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the live server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the live server did not start in time")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@asynccontextmanager
async def asgi_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``app`` in process, with the app's lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     timeout=30) as client:
            yield client


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """``[(event, data), ...]`` of a whole Server-Sent Events body (data JSON-decoded)."""
    events = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        if not frame.strip():
            continue
        name = "message"
        data_lines = []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].lstrip(" "))
        raw = "\n".join(data_lines)
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw
        events.append((name, data))
    return events


class TcpProxy:
    """A loopback TCP proxy (in the running event loop) that can be cut, to take a backend
    'down' for the clients that connect through it without touching the real server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> TcpProxy:
        """Listen (again, on the same port after a :meth:`cut`)."""
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        server, self.server = self.server, None
        if server is not None:
            server.close()
        for w in self._writers:
            w.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()


def readiness_clock(app: Any) -> ManualClock:
    """Put the app's kept ``/readyz`` answer on a clock the test moves (see
    :func:`fresh_readiness`)."""
    clock = ManualClock()
    app.state.readiness = ReadinessCache(clock)
    return clock


async def fresh_readiness(client: httpx.AsyncClient, clock: ManualClock) -> httpx.Response:
    """``/readyz`` once its kept answer is :data:`READY_TTL_S` old: a fresh check of the
    backends (the answer is kept so that probes cannot hammer them)."""
    clock.advance(READY_TTL_S)
    return await client.get("/readyz")
