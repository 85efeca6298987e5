"""``recagent ingest``: import the item catalog and interactions (all or nothing).

    recagent ingest --items ITEMS.csv --interactions INTERACTIONS.csv
    recagent ingest movielens [DIR]        (DIR defaults to the bundled ml-latest-small)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recagent.commands.errors import CliError
from recagent.settings import load_settings

SOURCES = ("movielens",)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest",
        help="import items and interactions (CSV, or a MovieLens folder)",
        description="Import the catalog. Either --items and/or --interactions (CSV, UTF-8, "
        "header row), or `movielens DIR` for the ml-latest-small layout. A bad row aborts "
        "with FILE:LINE and leaves the database as it was; re-running updates.",
    )
    p.add_argument("source", nargs="?", metavar="movielens",
                   help="read a MovieLens ml-latest-small folder instead of CSV files")
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                   help="the MovieLens folder (default: the bundled ml-latest-small)")
    p.add_argument("--items", type=Path, metavar="ITEMS.csv",
                   help="item_id,title[,description,year,categories,tags,popularity,...]")
    p.add_argument("--interactions", type=Path, metavar="INTERACTIONS.csv",
                   help="user_id,item_id[,rating,timestamp]")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_const", const="force",
                     default=True, help="always show the progress bar (default: on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                     help="never show the progress bar")
    p.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from recagent.demo import bundled_movielens_dir  # deferred: start-up time (--help)
    from tools.catalog.db import make_engine  # deferred: start-up time (--help)
    from tools.catalog.ingest import (  # deferred: start-up time (--help)
        IngestError,
        ingest_csv,
        ingest_movielens,
    )

    if args.source is not None and args.source not in SOURCES:
        raise CliError(
            f"unknown source {args.source!r}; use `ingest movielens DIR` or "
            "`ingest --items ITEMS.csv --interactions INTERACTIONS.csv`"
        )
    if args.source and (args.items or args.interactions):
        raise CliError("give either `movielens DIR` or --items/--interactions, not both")
    if not args.source and args.dir is not None:
        raise CliError(f"unexpected argument {str(args.dir)!r}")
    if not args.source and not (args.items or args.interactions):
        raise CliError("nothing to import: give --items and/or --interactions, or `movielens DIR`")

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        if args.source == "movielens":
            report = ingest_movielens(
                engine, args.dir or bundled_movielens_dir(), progress=args.progress
            )
        else:
            report = ingest_csv(engine, args.items, args.interactions, progress=args.progress)
    except IngestError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    print(report.summary())
    return 0
