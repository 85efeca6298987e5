"""``recagent simulate``: simulated users talk to the agent; success rates as a table + JSON.

    recagent simulate                              # in process, all users, with history
    recagent simulate --cold-start                 # anonymous sessions instead
    recagent simulate --prepare                    # build the held-out world, print its env
    recagent simulate --mode http --url http://127.0.0.1:8000   # a server started with that env
    recagent simulate --system all --variant both --json var/simulate.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from recagent.commands.errors import CliError

SYSTEMS = ("agent", "cf-floor", "filter-floor")


def _users(value: str) -> int | None:
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of users or 'all'") from None
    if n < 1:
        raise argparse.ArgumentTypeError("expected at least 1 user")
    return n


def _turns(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number of turns") from None
    if not 1 <= n <= 50:
        raise argparse.ArgumentTypeError("expected 1..50 turns")
    return n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate", help="simulated-user benchmark of whole conversations",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", choices=("inprocess", "http"), default="inprocess",
                   help="talk to the agent in this process or over HTTP (default inprocess)")
    p.add_argument("--url", help="the running server for --mode http (e.g. http://127.0.0.1:8000)")
    p.add_argument("--users", type=_users, default=None, metavar="N|all",
                   help="a seeded sample of N users, or all (default all)")
    p.add_argument("--seed", type=int, default=42, help="seed of everything (default 42)")
    p.add_argument("--cold-start", action="store_true",
                   help="anonymous sessions, no history (same as --variant cold)")
    p.add_argument("--variant", choices=("history", "cold", "both"), default=None,
                   help="with the user's history, cold start, or both (default history)")
    p.add_argument("--system", choices=(*SYSTEMS, "all"), default="agent",
                   help="the agent, one of the floors, or all three (default agent)")
    p.add_argument("--k", choices=("5", "10", "both"), default="both",
                   help="items shown per turn = the acceptance cutoff; each k is its own set of "
                        "conversations (default both: the k=5 and k=10 columns)")
    p.add_argument("--max-turns", type=_turns, default=15, help="turn budget (default 15)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write the full report (metrics, transcripts, timing) here")
    p.add_argument("--no-transcripts", action="store_true",
                   help="leave the per-turn transcripts out of the JSON")
    p.add_argument("--data", type=Path, default=None,
                   help="an ml-latest-small folder (default: the bundled one)")
    p.add_argument("--workdir", type=Path, default=Path("var/simulate"),
                   help="where the held-out catalog and models are built (default var/simulate)")
    p.add_argument("--phrasings", type=Path, default=None,
                   help="JSON of the simulated user's templates (default: the built-in set); "
                        "measures the agent on sentences it was not developed against")
    p.add_argument("--restate", action="store_true",
                   help="diagnostic: the user restates everything it revealed in every message "
                        "(tests the agent without relying on its multi-turn memory)")
    p.add_argument("--prepare", action="store_true",
                   help="only build the held-out world and print the env to serve it")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_run)


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "ml-latest-small"


def _run(args: argparse.Namespace) -> int:
    from recagent.simulation import SimulationError  # deferred: start-up time (--help)

    try:
        return _simulate(args)
    except SimulationError as exc:
        raise CliError(str(exc)) from None


def _simulate(args: argparse.Namespace) -> int:
    from recagent import simulation as sim  # deferred: start-up time (--help)

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    if args.mode == "http" and not args.url:
        raise CliError("--mode http needs --url (the running server, e.g. http://127.0.0.1:8000)")
    if args.url and args.mode != "http":
        raise CliError("--url is only used with --mode http")
    if args.cold_start and args.variant not in (None, "cold"):
        raise CliError("--cold-start conflicts with --variant " + args.variant)
    variant = "cold" if args.cold_start else (args.variant or "history")
    variants: tuple[Any, ...] = ("history", "cold") if variant == "both" else (variant,)
    systems: tuple[Any, ...] = SYSTEMS if args.system == "all" else (args.system,)
    data_dir = args.data or default_data_dir()

    workspace = sim.prepare_workspace(data_dir, args.workdir, seed=args.seed, progress=say)
    if args.prepare:
        # a fresh copy for the server: the agent writes per-user profiles into its catalog
        url = workspace.fresh_database(workspace.root / "serve.db")
        for key, value in workspace.env(url).items():
            print(f"export {key}={value}")
        print("# then start the server with this env, e.g.\n"
              "#   uvicorn api.app:create_app --factory --host 127.0.0.1 --port 8000\n"
              "# and run --prepare again before each HTTP run (same seed -> same JSON)")
        return 0
    catalog = sim.SimCatalog.load(workspace.database_url)
    episodes = sim.sample_episodes(sim.build_episodes(catalog, workspace.targets), args.users,
                                   seed=args.seed)
    started = time.perf_counter()
    runs = asyncio.run(sim.run_matrix(
        workspace, episodes, catalog, seed=args.seed, max_turns=args.max_turns,
        systems=systems, variants=variants,
        ks=sim.REPORT_KS if args.k == "both" else (int(args.k),),
        url=args.url if args.mode == "http" else None,
        restate=args.restate, progress=say,
        phrasings=(sim.Phrasings.load(args.phrasings) if args.phrasings is not None
                   else sim.DEFAULT_PHRASINGS),
    ))
    total = time.perf_counter() - started
    config = {
        "seed": args.seed, "users": len(episodes),
        "sample": "all" if args.users is None else args.users,
        "max_turns": args.max_turns, "ks": sim.REPORT_KS if args.k == "both" else [int(args.k)],
        "mode": args.mode, "data": data_dir.name, "workspace": workspace.fingerprint,
        "restate": args.restate,
        "phrasings": str(args.phrasings) if args.phrasings is not None else "built-in",
    }
    print(sim.format_table(runs))
    print(f"\nseed {args.seed}, {len(episodes)} users, {args.max_turns} turns max, "
          f"mode {args.mode}; {total:.0f}s")
    if args.json is not None:
        report = sim.report_json(runs, config=config, transcripts=not args.no_transcripts)
        report["timing"]["total_s"] = round(total, 1)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1, sort_keys=True))
        tmp.replace(args.json)
        say(f"wrote {args.json}")
    return 0
