"""``recagent demo [--no-serve]``: prepare the bundled MovieLens demo, then serve it.

The first run migrates the database, imports the data and trains the models (a minute or
so); later runs find everything in place and start serving at once.
"""

from __future__ import annotations

import argparse

from recagent.commands.serve import add_server_options, check_exposure, run_server
from recagent.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="prepare the MovieLens demo (first run) and serve it")
    p.add_argument("--no-serve", action="store_true",
                   help="only prepare (import + train), do not start the server")
    add_server_options(p)
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from recagent.demo import prepare_demo  # deferred: start-up time (--help)
    # the bundled catalog holds movies: prepare_demo records it with the database, and
    # every command run against it (this server's workers too) reads it back
    settings = load_settings()
    if not args.no_serve:  # refuse before a minute of preparation, not after
        check_exposure(settings, args.host or settings.host)
    result = prepare_demo(settings)
    if result.get("status") == "already prepared":
        print("recagent: demo data and models already prepared", flush=True)
    else:
        print(f"recagent: demo prepared ({', '.join(result.get('steps', []))}) in "
              f"{result.get('seconds', 0):.1f}s: {result.get('items')} items, "
              f"{result.get('interactions')} interactions", flush=True)
    if args.no_serve:
        return 0
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    print(f"recagent: open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port} "
          "in your browser (Ctrl+C stops)", flush=True)
    return run_server(args)
