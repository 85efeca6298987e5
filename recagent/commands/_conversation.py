"""The terminal conversation behind ``recagent chat``: its session, the terminal commands
(``/help``, ``/new``, ``/quit``) and the turns. Imported only when chatting (it loads the
agent)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TextIO

from agent.errors import AgentError
from agent.responder import numbered_list
from agent.service import item_words
from agent.understanding.policy import Words
from recagent.runtime import Runtime

COMMANDS = (
    ("/help", "show this help"),
    ("/new", "forget this conversation and start a new one"),
    ("/quit", "leave (also /exit or Ctrl-D)"),
)


def help_text(plural: str, verb: str = "try") -> str:
    lines = [f"Ask for {plural} to {verb} in your own words: a kind, a period, a title you "
             "liked.",
             "Follow up to refine (\"older\", \"more like the second one\", \"no horror\")."]
    lines += [f"  {name:<6} {what}" for name, what in COMMANDS]
    return "\n".join(lines)


@dataclass
class Conversation:
    """One terminal conversation: its session, the commands and the turns."""

    runtime: Runtime
    out: TextIO
    user_id: str | None = None
    show_trace: bool = False
    session_id: str | None = None
    words: Words = field(init=False)

    def __post_init__(self) -> None:
        self.words = item_words(self.runtime.agent.settings)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def command(self, text: str) -> bool:
        """Run a terminal command (``/help``, ``/new``, ...); False: leave."""
        command = text.split()[0].lower()
        if command in ("/quit", "/exit", "/q"):
            return False
        if command in ("/help", "/?", "/h"):
            self.say(help_text(self.words.plural, self.words.verb))
        elif command in ("/new", "/reset"):
            if self.session_id is not None:
                with contextlib.suppress(AgentError):  # already gone is fine
                    await self.runtime.agent.forget(self.session_id, user_id=self.user_id)
            self.session_id = None
            self.say("Started a new conversation.")
        else:
            self.say(f"Unknown command {command}; /help lists the commands.")
        return True

    async def turn(self, text: str) -> None:
        """One request: the reply, the numbered list and (``--trace``) each plan."""
        try:
            result = await self.runtime.agent.turn(text, session_id=self.session_id,
                                                   user_id=self.user_id)
        except AgentError as exc:
            self.say(f"error: {exc.message}")
            return
        self.session_id = result.session_id
        print(result.reply, file=self.out)
        if result.recommendations:
            print(numbered_list(result.recommendations), file=self.out)
        if self.show_trace:
            for attempt in result.trace.get("attempts", []):
                calls = ", ".join(c["name"] for c in attempt["calls"]) or "(no tools)"
                print(
                    f"  plan {attempt['index']} ({attempt['reason']}, "
                    f"{attempt['backend']}): {calls}",
                    file=self.out,
                )
        self.out.flush()
