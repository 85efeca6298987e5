"""``recagent chat``: talk to the agent in the terminal, in process.

Lines starting with ``/`` are commands for the terminal and never sent as requests:
``/help``, ``/new`` (start a new conversation), ``/quit`` (or ``/exit``, end of input).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any, TextIO

COMMANDS = (
    ("/help", "show this help"),
    ("/new", "forget this conversation and start a new one"),
    ("/quit", "leave (also /exit or Ctrl-D)"),
)


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


def help_text(plural: str) -> str:
    lines = [f"Ask for {plural} in your own words: a kind, a period, a title you liked.",
             "Follow up to refine (\"older\", \"more like the second one\", \"no horror\")."]
    lines += [f"  {name:<6} {what}" for name, what in COMMANDS]
    return "\n".join(lines)


async def chat(
    lines: TextIO,
    out: TextIO,
    *,
    user_id: str | None = None,
    show_trace: bool = False,
    runtime: Any = None,
) -> int:
    from agent.responder import numbered_list
    from agent.service import AgentError, item_words
    from recagent.runtime import build_runtime
    from recagent.settings import load_settings

    own = runtime is None
    if runtime is None:
        runtime = await build_runtime(load_settings())
    words = item_words(runtime.agent.settings)
    session_id: str | None = None
    try:
        print(f"recagent chat - ask for {words.plural}; /help for commands, /quit to leave.",
              file=out, flush=True)
        for _ in range(100_000):  # bounded: one turn per input line
            print("> ", end="", file=out, flush=True)
            line = await asyncio.to_thread(lines.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                command = text.split()[0].lower()
                if command in ("/quit", "/exit", "/q"):
                    break
                if command in ("/help", "/?", "/h"):
                    print(help_text(words.plural), file=out, flush=True)
                elif command in ("/new", "/reset"):
                    if session_id is not None:
                        with contextlib.suppress(AgentError):  # already gone is fine
                            await runtime.agent.forget(session_id, user_id=user_id)
                    session_id = None
                    print("Started a new conversation.", file=out, flush=True)
                else:
                    print(f"Unknown command {command}; /help lists the commands.", file=out,
                          flush=True)
                continue
            try:
                result = await runtime.agent.turn(text, session_id=session_id, user_id=user_id)
            except AgentError as exc:
                print(f"error: {exc.message}", file=out, flush=True)
                continue
            session_id = result.session_id
            print(result.reply, file=out)
            if result.recommendations:
                print(numbered_list(result.recommendations), file=out)
            if show_trace:
                for attempt in result.trace.get("attempts", []):
                    calls = ", ".join(c["name"] for c in attempt["calls"]) or "(no tools)"
                    print(
                        f"  plan {attempt['index']} ({attempt['reason']}, "
                        f"{attempt['backend']}): {calls}",
                        file=out,
                    )
            out.flush()
    finally:
        if own:
            await runtime.aclose()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(chat(sys.stdin, sys.stdout, user_id=args.user, show_trace=args.trace))
