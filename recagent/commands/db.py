"""``recagent db upgrade|current``: schema migrations."""

from __future__ import annotations

import argparse

from recagent.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database schema (Alembic migrations)")
    dsub = p.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="bring the schema up to date")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_upgrade)
    cur = dsub.add_parser("current", help="print the current revision")
    cur.set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    from tools.catalog.db import (  # deferred: start-up time (--help)
        current_revision,
        make_engine,
        upgrade,
    )

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine, args.revision)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from tools.catalog.db import current_revision, make_engine  # deferred: start-up time (--help)

    engine = make_engine(load_settings().database_url)
    print(current_revision(engine) or "(empty database)")
    return 0
