"""What a tool gets injected at call time (never part of the schema the model sees).

A tool declares ``ctx: Annotated[ToolContext, InjectedToolArg]`` (``tools.registry.Ctx``
is that alias) and reads the catalog, the models, the candidate bus, the session and the
settings from it. :class:`TurnNotes` is where tools leave what reflection checks after
the plan ran: the hard conditions applied, the names that did not resolve, the profile
changes made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from memory.bus import CandidateBus
from memory.session import Session

if TYPE_CHECKING:
    from recagent.settings import Settings
    from tools.catalog.protocol import Catalog
    from tools.catalog.repository import ItemFilter
    from tools.recommenders.bundle import ModelBundle


@dataclass
class TurnNotes:
    """Per-turn facts for reflection and the trace (appended to by tools)."""

    filters: list[ItemFilter] = field(default_factory=list)  # hard conditions applied
    resolved: dict[str, str] = field(default_factory=dict)  # name the user typed -> item_id
    unresolved: list[str] = field(default_factory=list)  # names that matched nothing
    profile_changes: list[str] = field(default_factory=list)  # "liked 1", "avoid Horror"
    messages: list[str] = field(default_factory=list)  # anything else worth surfacing


class ToolContext:
    """The runtime a tool runs against. Built once per turn by the agent.

    A plain class (not a pydantic model or dataclass) on purpose: the schema builder
    treats it as an opaque injected value and never inspects its fields.
    """

    __slots__ = ("catalog", "models", "_bus", "session", "settings", "user_id", "notes", "extra",
                 "rated")

    def __init__(
        self,
        *,
        catalog: Catalog,
        models: ModelBundle,
        session: Session,
        settings: Settings,
        bus: CandidateBus | None = None,
        user_id: str | None = None,
        notes: TurnNotes | None = None,
        extra: dict[str, Any] | None = None,
        rated: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = catalog
        self.models = models
        self._bus = CandidateBus()
        self.bus = bus if bus is not None else self._bus
        self.session = session
        self.settings = settings
        self.user_id = user_id if user_id is not None else session.user_id
        self.notes = notes if notes is not None else TurnNotes()
        self.extra: dict[str, Any] = extra if extra is not None else {}  # plug-in state
        self.rated = rated  # what a known user rated before this session: seen, left out

    @property
    def bus(self) -> CandidateBus:
        return self._bus

    @bus.setter
    def bus(self, bus: CandidateBus) -> None:
        """A bus without a row space gets the catalog's (its cached columns)."""
        catalog = self.catalog
        bus.attach(lambda: catalog.columns)
        self._bus = bus

    def hidden_rows(self) -> np.ndarray:
        """:meth:`hidden_ids` as catalog rows (sorted, unique), for masks over the bus."""
        hidden = self.hidden_ids()
        if not hidden:
            return np.empty(0, dtype=np.int64)
        return np.unique(self.bus.rows_of(hidden))

    def hidden_ids(self) -> set[str]:
        """Items left out unless a call asks for them: disliked, already shown, or already
        liked, said to be seen, rated before (a known user) or named in this turn (someone
        asking for things like X knows X)."""
        profile = self.session.profile
        return (set(profile.disliked) | set(self.session.shown) | set(profile.liked)
                | set(profile.seen) | set(self.bus.mentioned) | self.rated)

    def titles(self, ids: list[str]) -> dict[str, str]:
        return self.catalog.titles(ids)

    def bus_summary(self, n: int = 5) -> str:
        return self.bus.summary(self.catalog.titles, n=n)

    def __repr__(self) -> str:
        return f"ToolContext(session={self.session.id[:6]}..., user_id={self.user_id!r})"
