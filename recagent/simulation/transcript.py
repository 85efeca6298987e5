"""What one conversation leaves behind: its turns and the user's last words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TurnRecord:
    turn: int
    user: str  # what the simulated user said
    revealed: str | None  # "kind:value" it revealed with it
    items: list[str]  # recommended ids, in rank order
    rank: int | None  # the target's 1-based rank in ``items``
    repeats: int  # items already recommended earlier in this conversation
    reply: str
    llm_calls: int | None
    tool_calls: int | None
    tools: list[str] = field(default_factory=list)


@dataclass
class EpisodeResult:
    user_id: str
    target_id: str
    turns: list[TurnRecord]
    final: str  # the user's last words (acceptance or the last miss)
    latencies_s: list[float] = field(default_factory=list)  # NOT part of the deterministic JSON

    def first_hit(self, k: int) -> int | None:
        for t in self.turns:
            if t.rank is not None and t.rank <= k:
                return t.turn
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_s")
        return data
