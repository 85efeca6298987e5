"""What a turn returns, shared by the agent and the API (the HTTP contract's shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Recommendation(BaseModel):
    item_id: str
    title: str
    score: float
    reason: str = ""
    year: int | None = None
    categories: list[str] = Field(default_factory=list)
    link: str | None = None  # a page about the item, when the catalog has one (URL attribute)
    image: str | None = None  # a picture of it, when the catalog has one


class TurnResult(BaseModel):
    session_id: str
    reply: str
    recommendations: list[Recommendation] = Field(default_factory=list)
    trace: dict[str, Any] = Field(default_factory=dict)


EventType = Literal["plan", "tool", "recommendations", "delta", "done", "error"]


class TurnEvent(BaseModel):
    """One streamed event of a turn (Server-Sent Events ``event:`` = ``type``)."""

    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
