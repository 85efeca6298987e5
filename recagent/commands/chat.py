"""``recagent chat``: talk to the agent in the terminal, in process.

Lines starting with ``/`` are commands for the terminal and never sent as requests:
``/help``, ``/new`` (start a new conversation), ``/quit`` (or ``/exit``, end of input).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from recagent.settings import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="chat with the agent in this terminal",
        description="Chat with the agent in this terminal, in process (no server needed). "
        "Type a request; /help lists the commands.",
    )
    parser.add_argument("--user", default=None, help="user id (personalises with their history)")
    parser.add_argument("--trace", action="store_true", help="print each turn's plan")
    parser.set_defaults(func=run)


async def chat(
    lines: TextIO,
    out: TextIO,
    *,
    user_id: str | None = None,
    show_trace: bool = False,
    runtime: Any = None,
) -> int:
    # the agent is imported for this command only (it takes seconds; `recagent --help` not)
    from recagent.commands._conversation import Conversation  # deferred: start-up time (--help)
    from recagent.demo import catalog_settings  # deferred: start-up time (--help)
    from recagent.runtime import build_runtime  # deferred: start-up time (--help)
    own = runtime is None
    if runtime is None:
        runtime = await build_runtime(catalog_settings(load_settings()))
    talk = Conversation(runtime, out, user_id=user_id, show_trace=show_trace)
    try:
        print(f"recagent chat - ask for {talk.words.plural}; /help for commands, /quit to "
              "leave.", file=out, flush=True)
        for _ in range(100_000):  # bounded: one turn per input line
            print("> ", end="", file=out, flush=True)
            line = await asyncio.to_thread(lines.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if not await talk.command(text):
                    break
                continue
            await talk.turn(text)
    finally:
        if own:
            await runtime.aclose()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(chat(sys.stdin, sys.stdout, user_id=args.user, show_trace=args.trace))
