"""The ``recagent`` command. Sub-commands live in ``recagent/commands/<name>.py``.

Each command module exposes ``register(subparsers) -> None`` and sets ``func`` on its
parser: ``func(args) -> int``. Errors meant for the user raise
:class:`~recagent.commands.errors.CliError`.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import recagent.commands as commands_pkg
from recagent.commands.errors import CliError
from recagent.settings import SettingsError

__all__ = ["CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recagent",
        description="recagent: a conversational recommender service. Chat in your own words; "
        "a planner turns each message into catalog and collaborative-filtering tool calls and "
        "answers with recommendations. Start with 'recagent demo' (bundled MovieLens data) or "
        "import your own catalog with 'recagent ingest' and 'recagent train'.",
        epilog="Settings come from RECAGENT_* environment variables (see the README). "
        "'recagent COMMAND --help' describes one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"recagent.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) not in (None, "db"):
        from tools.recommenders.common import pin_blas_threads  # deferred: start-up time (--help)

        pin_blas_threads()
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except (CliError, SettingsError) as exc:
        print(f"recagent: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
