"""Fault figures: chat turns while PostgreSQL (the catalog) or Redis (the sessions) goes away
and comes back. Prints, per backend: requests sent, 5xx, 503, 500, turns still answered
while it was down (from what the process had cached), and the recovery time (from the
backend being reachable again to the first 200), median over ``--runs``.

A backend is taken down by cutting a loopback TCP proxy in front of it (every open
connection dropped, new ones refused) -- the real server keeps running, as in a network
partition or a restart behind a stable address. The app runs in process (httpx ASGI
transport) with the rules planner, as in the tests.

    nice -n 10 .venv/bin/python benchmarks/faults.py --runs 3

Needs the PostgreSQL and Redis of the test set-up (RECAGENT_TEST_PG, RECAGENT_TEST_REDIS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from tests.api.support import TcpProxy, asgi_client, trained_models  # noqa: E402
from tests.conftest import (  # noqa: E402
    ML_DIR,
    REDIS_URL,
    create_pg_database,
    drop_pg_database,
)

MESSAGES = ["a western from the 1950s", "a musical from the 60s", "film-noir", "a 70s horror",
            "documentaries from the 2000s", "an animated comedy from the 80s"]


async def _outage(settings_for: Any, target: tuple[str, int], during: int,
                  prefix: str | None) -> dict[str, Any]:
    from api.app import create_app
    from recagent.runtime import build_runtime

    proxy = await TcpProxy(*target).start()
    settings = settings_for(proxy.port)
    kwargs = {"session_prefix": prefix} if prefix else {}
    runtime = await build_runtime(settings, **kwargs)
    statuses: list[int] = []
    down: list[int] = []
    recovery = float("nan")
    try:
        async with asgi_client(create_app(settings, runtime=runtime)) as client:
            for m in MESSAGES[:2]:  # warm: the backend is up
                statuses.append((await client.post("/v1/chat", json={"message": m})).status_code)
            await proxy.cut()
            for i in range(during):
                r = await client.post("/v1/chat", json={"message": MESSAGES[i % len(MESSAGES)]})
                down.append(r.status_code)
            statuses += down
            await proxy.start()
            back = time.perf_counter()
            for i in range(200):
                r = await client.post("/v1/chat", json={"message": MESSAGES[i % len(MESSAGES)]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    recovery = time.perf_counter() - back
                    break
                await asyncio.sleep(0.05)
    finally:
        await proxy.cut()
        await runtime.aclose()
    return {"requests": len(statuses), "5xx": sum(s >= 500 for s in statuses),
            "ok_down": down.count(200),
            "503": statuses.count(503), "500": statuses.count(500), "recovery_s": recovery}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--during", type=int, default=20, help="requests while it is down")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from recagent.settings import load_settings
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_movielens

    work = Path(tempfile.mkdtemp(prefix="recagent-faults-"))
    sqlite_url = f"sqlite:///{work / 'catalog.db'}"
    pg_url = create_pg_database()
    try:
        for url in (sqlite_url, pg_url):
            engine = make_engine(url)
            ingest_movielens(engine, ML_DIR)
            engine.dispose()
        models = trained_models(sqlite_url, work / "models")
        base = dict(model_dir=models, llm="rules", rate_limit_per_minute=0, plugins=[],
                    admin_api_key=None, cors_origins=[])
        pg = make_url(pg_url)
        redis = make_url(REDIS_URL)

        def pg_settings(port: int) -> Any:
            url = pg.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
            return load_settings(database_url=url, redis_url=None, **base)

        def redis_settings(port: int) -> Any:
            url = redis.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
            return load_settings(database_url=sqlite_url, redis_url=url, **base)

        rows = []
        for name, settings_for, target, prefix in (
                ("PostgreSQL (catalog)", pg_settings, (pg.host or "127.0.0.1", pg.port or 5432),
                 None),
                ("Redis (sessions)", redis_settings,
                 (redis.host or "127.0.0.1", redis.port or 6379), "recagent-faults:")):
            runs = [asyncio.run(_outage(settings_for, target, args.during, prefix))
                    for _ in range(args.runs)]
            rows.append((name, runs))
    finally:
        drop_pg_database(pg_url)

    load = os.getloadavg()
    print(f"\nfault injection: {args.runs} run(s) per backend, {args.during} requests while "
          f"down; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"{'backend down':<22} {'requests':>8} {'5xx':>5} {'503':>5} {'500':>5} "
          f"{'200 while down':>14} {'recovery ms (median)':>21} {'(min-max)':>14}")
    for name, runs in rows:
        rec = [r["recovery_s"] * 1000 for r in runs]
        print(f"{name:<22} {sum(r['requests'] for r in runs):>8} "
              f"{sum(r['5xx'] for r in runs):>5} {sum(r['503'] for r in runs):>5} "
              f"{sum(r['500'] for r in runs):>5} {sum(r['ok_down'] for r in runs):>14} "
              f"{statistics.median(rec):>21.0f} "
              f"{min(rec):>6.0f}-{max(rec):<7.0f}")


if __name__ == "__main__":
    main()
