"""Load test of the chat API on loopback: turns/s and p50/p99 latency per concurrency.

Starts ``recagent serve`` as a subprocess (rules planner, rate limit off) and drives
``POST /v1/chat`` with a bounded asyncio client (raw HTTP/1.1 keep-alive, one connection
per virtual user): every virtual user runs short
conversations (a request, then follow-ups in the same session). Two set-ups:

* ``embedded``: the defaults -- SQLite, in-process sessions, 1 worker;
* ``pg``: PostgreSQL (a throw-away database, created and dropped here) + Redis sessions
  (db 13, keys removed afterwards) with 2 uvicorn workers;
* ``redis``: the SQLite catalog of ``embedded`` + Redis sessions with 2 workers (the
  production setting on one machine: ``RECAGENT_WORKERS`` = cores, sessions in Redis).

Every level runs ``--duration`` seconds (and at most ``--max-requests`` turns) ``--runs``
times; the table shows the median of the runs. Bounded in count and time; stops by itself.

``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/base HEAD``) also serves
that tree's code on the same data, and interleaves its runs with this tree's (base, new,
new, base, ...; both servers stay up, the idle one costs nothing): the table then has a
row per code version and the ratio of the medians, measured under the same machine load.
``--workers`` overrides the worker count of a set-up (``embedded=1,redis=2,pg=2``).

    nice .venv/bin/python benchmarks/load.py                  # all set-ups, 1/16/64
    nice .venv/bin/python benchmarks/load.py --modes embedded --duration 5 --runs 1
    nice .venv/bin/python benchmarks/load.py --levels 16 --runs 5 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".bench-cache" / "load"
PG_ADMIN = os.environ.get("RECAGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("RECAGENT_BENCH_REDIS", "redis://127.0.0.1:6379/13")
BENCH_PREFIX = "recagent:"

OPENERS = [
    "comedies from the 1990s",
    "a 90s thriller like Heat but less violent",
    "sci-fi movies from the 80s",
    "something like Toy Story for a family night",
    "highly rated dramas",
    "horror films from the 70s",
    "an animated movie",
    "war movies",
    "a romantic comedy from the 2000s",
    "crime movies like Pulp Fiction",
    "westerns",
    "documentaries",
]
FOLLOW_UPS = ["more like those", "something older", "more recent ones please",
              "less violent", "more popular ones"]


@dataclass
class RunResult:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- data ------------------------------------------------------------------------------------

def prepare_embedded() -> dict[str, str]:
    """SQLite catalog + models under .bench-cache (prepared once, reused)."""
    from recagent.demo import prepare_demo
    from recagent.settings import load_settings

    env = {"RECAGENT_DATABASE_URL": f"sqlite:///{CACHE / 'embedded.db'}",
           "RECAGENT_MODEL_DIR": str(CACHE / "models")}
    CACHE.mkdir(parents=True, exist_ok=True)
    result = prepare_demo(load_settings(database_url=env["RECAGENT_DATABASE_URL"],
                                        model_dir=env["RECAGENT_MODEL_DIR"]), progress=False)
    print(f"embedded data: {result['status']} ({result.get('seconds', 0):.1f}s)", flush=True)
    return env


def create_pg_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "recagent_bench_" + secrets.token_hex(5)
    admin = create_engine(make_url(PG_ADMIN).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(make_url(PG_ADMIN).set(drivername="postgresql+psycopg"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def prepare_pg(url: str) -> dict[str, str]:
    """Import MovieLens into the fresh PostgreSQL database; reuse the embedded models (same
    data, same item ids)."""
    from recagent.demo import bundled_movielens_dir
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_movielens

    engine = make_engine(url)
    started = time.perf_counter()
    ingest_movielens(engine, bundled_movielens_dir())
    engine.dispose()
    print(f"pg data imported in {time.perf_counter() - started:.1f}s", flush=True)
    return {"RECAGENT_DATABASE_URL": url, "RECAGENT_MODEL_DIR": str(CACHE / "models"),
            "RECAGENT_REDIS_URL": REDIS, "RECAGENT_SESSION_TTL_S": "600"}


def clean_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        batch = []
        for key in client.scan_iter(match=BENCH_PREFIX + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
    finally:
        client.close()


# ---- server ----------------------------------------------------------------------------------

class Server:
    def __init__(self, env: dict[str, str], workers: int, root: Path = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
        full.update(env, RECAGENT_RATE_LIMIT_PER_MINUTE="0", RECAGENT_LLM="rules",
                    RECAGENT_LOG_LEVEL="WARNING", RECAGENT_PLUGINS="",
                    OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(root))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recagent", "serve", "--port", str(self.port),
             "--workers", str(workers)],
            cwd=root, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + (self.proc.stderr.read()
                                                         if self.proc.stderr else ""))
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise TimeoutError("server not ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- load ------------------------------------------------------------------------------------

class Connection:
    """A minimal HTTP/1.1 keep-alive client (one per virtual user): a load generator must cost
    far less CPU than the server it measures, and on a 2-core machine httpx does not (about
    4 ms of CPU per request against ~0.2 ms here)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = json.dumps(payload).encode()
        self.writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + self.host.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            match = re.search(rb"content-length:\s*(\d+)", lower)
            data = await self.reader.readexactly(int(match.group(1)) if match else 0)
        if b"connection: close" in lower:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def run_level(url: str, concurrency: int, duration: float, max_requests: int,
                    seed: int) -> RunResult:
    result = RunResult()
    budget = [max_requests]
    host, port = url.rsplit("/", 1)[-1].split(":")
    start = time.perf_counter()
    deadline = start + duration

    async def user(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        conn = Connection(host, int(port))
        # the virtual user's anonymous browser token: its sessions are bound to it (the
        # service would mint one per new session otherwise, see api/identity.py)
        token = f"load-{seed}-{k}-" + "0" * 16
        session: str | None = None
        turns_left = 0
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                if turns_left <= 0:
                    session, turns_left = None, rng.randint(1, 3)
                body: dict[str, Any] = {"message": rng.choice(FOLLOW_UPS if session
                                                              else OPENERS),
                                        "session_token": token}
                if session:
                    body["session_id"] = session
                t0 = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(conn.post_json("/v1/chat", body), 30)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                    status, data = 0, b""
                    await conn.close()
                result.latencies.append(time.perf_counter() - t0)
                if status == 200:
                    result.ok += 1
                    session = json.loads(data)["session_id"]
                    turns_left -= 1
                else:
                    result.errors += 1
                    session, turns_left = None, 0
        finally:
            await conn.close()

    await asyncio.gather(*(user(k) for k in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    return result


def bench(label: str, url: str, levels: list[int], args: argparse.Namespace) -> list[str]:
    asyncio.run(run_level(url, 4, 3.0, 60, seed=999))  # warm-up: caches, connections
    rows = []
    for conc in levels:
        runs = [asyncio.run(run_level(url, conc, args.duration, args.max_requests, seed=r))
                for r in range(args.runs)]
        row = _row(label, conc, runs)
        print(row, flush=True)
        rows.append(row)
    return rows


def _row(label: str, conc: int, runs: list[RunResult]) -> str:
    rate = statistics.median(r.rate for r in runs)
    p50 = statistics.median(r.pct(0.50) for r in runs)
    p99 = statistics.median(r.pct(0.99) for r in runs)
    errors = sum(r.errors for r in runs)
    turns = sum(r.ok for r in runs)
    return f"| {label} | {conc} | {rate:.1f} | {p50:.1f} | {p99:.1f} | {errors} | {turns} |"


def bench_against(label: str, servers: dict[str, Server], levels: list[int],
                  args: argparse.Namespace) -> list[str]:
    """Interleaved runs of several servers (same data, different code): per level and run,
    each server in turn, the order alternating, so machine load hits them alike."""
    for server in servers.values():
        asyncio.run(run_level(server.url, 4, 3.0, 60, seed=999))
    rows = []
    names = list(servers)
    for conc in levels:
        runs: dict[str, list[RunResult]] = {n: [] for n in names}
        for r in range(args.runs):
            for name in (names if r % 2 == 0 else names[::-1]):
                result = asyncio.run(run_level(servers[name].url, conc, args.duration,
                                               args.max_requests, seed=r))
                runs[name].append(result)
                print(f"  {label} [{name}] c={conc} run {r + 1}: {result.rate:.1f} turns/s, "
                      f"p99 {result.pct(0.99):.1f} ms, errors {result.errors}", flush=True)
        for name in names:
            row = _row(f"{label} [{name}]", conc, runs[name])
            print(row, flush=True)
            rows.append(row)
        if len(names) == 2:
            base, new = (statistics.median(r.rate for r in runs[n]) for n in names)
            p99b, p99n = (statistics.median(r.pct(0.99) for r in runs[n]) for n in names)
            row = (f"| {label} [{names[1]} / {names[0]}] | {conc} | x{new / base:.2f} | | "
                   f"x{p99n / p99b:.2f} | | |")
            print(row, flush=True)
            rows.append(row)
    return rows


def serve(env: dict[str, str], workers: int, baseline: Path | None) -> dict[str, Server]:
    """This tree's server (``new``), and the baseline tree's (``base``) when given."""
    servers: dict[str, Server] = {}
    try:
        if baseline is not None:
            servers["base"] = Server(env, workers, root=baseline)
        servers["new"] = Server(env, workers)
        for server in servers.values():
            server.wait_ready()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def run_mode(label: str, env: dict[str, str], workers: int, levels: list[int],
             args: argparse.Namespace) -> list[str]:
    servers = serve(env, workers, args.baseline)
    try:
        if args.baseline is None:
            return bench(label, servers["new"].url, levels, args)
        return bench_against(label, servers, levels, args)
    finally:
        for server in servers.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="embedded,redis,pg")
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per level per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=5000,
                        help="cap on turns per level per run")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout: serve its code too, runs interleaved")
    parser.add_argument("--workers", default="embedded=1,pg=2,redis=2",
                        help="workers per set-up, e.g. embedded=1,pg=2,redis=2")
    args = parser.parse_args(argv)
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / "recagent" / "__init__.py").exists():
            parser.error(f"--baseline {args.baseline}: not a recagent checkout")
    levels = [int(x) for x in args.levels.split(",")]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workers = {"embedded": 1, "pg": 2, "redis": 2}
    for part in args.workers.split(","):
        if part.strip():
            key, _, value = part.partition("=")
            workers[key.strip()] = int(value)
    header = ["| set-up | concurrency | turns/s | p50 ms | p99 ms | errors | turns |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    rows: list[str] = []
    embedded_env = prepare_embedded()
    print("\n".join(header), flush=True)
    if "embedded" in modes:
        n = workers["embedded"]
        rows += run_mode(f"embedded (SQLite, in-process, {n} worker{'s' * (n > 1)})",
                         embedded_env, n, levels, args)
    if "redis" in modes:
        n = workers["redis"]
        try:
            rows += run_mode(f"SQLite + Redis, {n} worker{'s' * (n > 1)}",
                             {**embedded_env, "RECAGENT_REDIS_URL": REDIS,
                              "RECAGENT_SESSION_TTL_S": "600"}, n, levels, args)
        finally:
            clean_redis()
    if "pg" in modes:
        url = create_pg_database()
        try:
            n = workers["pg"]
            rows += run_mode(f"PostgreSQL + Redis, {n} worker{'s' * (n > 1)}", prepare_pg(url),
                             n, levels, args)
        finally:
            drop_pg_database(url)
            clean_redis()
    print(f"\nmedian of {args.runs} runs x {args.duration:.0f}s per level\n")
    print("\n".join(header + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
