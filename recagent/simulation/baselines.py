"""The floors the agent is measured against: collaborative filtering that ignores the
conversation (:class:`CFFloor`), and hard filters plus popularity (:class:`FilterFloor`)."""

from __future__ import annotations

from typing import Any

from recagent.simulation.episodes import Episode, SimCatalog, decade_of
from recagent.simulation.metrics import REPORT_KS
from recagent.simulation.systems import SystemReply
from recagent.simulation.user import SimulatedUser, Utterance
from recagent.simulation.workspace import Workspace
from tools.recommenders.artifacts import load_bundle


class CFFloor:
    """Ignores the conversation: the user's top k from the default CF model, then the next
    k each turn (k = the user's cutoff). Anonymous (cold start): the catalog's popularity
    order, k a turn."""

    name = "cf-floor"

    def __init__(self, catalog: SimCatalog, model: Any, *, max_turns: int) -> None:
        self.catalog = catalog
        self.model = model
        self.max_turns = max_turns
        self._ranked: list[str] = []
        self._page = 0

    @classmethod
    def build(cls, workspace: Workspace, catalog: SimCatalog, *, max_turns: int) -> CFFloor:
        return cls(catalog, load_bundle(workspace.model_dir).default, max_turns=max_turns)

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        n = max(REPORT_KS) * self.max_turns
        if cold_start or not self.model.knows_user(episode.user_id):
            self._ranked = self.catalog.by_popularity[:n]
        else:
            self._ranked = [s.item_id for s in self.model.recommend(episode.user_id, n)]
        self._page = 0

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        page = self._ranked[self._page * user.k : (self._page + 1) * user.k]
        self._page += 1
        return SystemReply(list(page))

    async def aclose(self) -> None:
        return None


class FilterFloor:
    """Hard conditions only, then popularity: items having every category and tag the
    user revealed, in the revealed decade, not in the user's history, not shown before in
    the conversation, most popular first, k a turn (the user's cutoff). Mentioned liked
    items are ignored (soft)."""

    name = "filter-floor"

    def __init__(self, catalog: SimCatalog) -> None:
        self.catalog = catalog
        self._seen: frozenset[str] = frozenset()
        self._shown: set[str] = set()

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        self._seen = frozenset() if cold_start else episode.seen
        self._shown = set()

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        cats = {a.value for a in user.revealed if a.kind == "category"}
        tags = {a.value for a in user.revealed if a.kind == "tag"}
        decades = [int(a.value[:-1]) for a in user.revealed if a.kind == "decade"]
        out: list[str] = []
        for item_id in self.catalog.by_popularity:
            if item_id in self._seen or item_id in self._shown:
                continue
            item = self.catalog.items[item_id]
            if cats and not cats <= {c.casefold() for c in item.categories}:
                continue
            if tags and not tags <= {t for t, _n in item.tags}:
                continue
            if decades and decade_of(item.year) != decades[0]:
                continue
            out.append(item_id)
            if len(out) == user.k:
                break
        self._shown.update(out)
        return SystemReply(out)

    async def aclose(self) -> None:
        return None
