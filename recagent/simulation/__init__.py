"""Simulated-user benchmark of whole conversations (issue 7).

A templated simulated user (no LLM) looks for one held-out target item and talks to a
recommender -- the agent in process, the agent over HTTP, or one of two floors -- until the
target shows up in the top ``k`` or the turn budget runs out. Everything is seeded: the same
seed gives the same transcripts and the same JSON (apart from its ``timing`` section).

A benchmark harness, not part of the public facade (``recagent/__init__.py`` never imports
it); ``recagent simulate`` and ``benchmarks/`` use it. One module a job, in order of use:

- :mod:`~recagent.simulation.workspace`: the held-out world (:func:`prepare_workspace`);
- :mod:`~recagent.simulation.episodes`: the catalog as the simulation sees it and one
  :class:`Episode` per user (:func:`build_episodes`);
- :mod:`~recagent.simulation.user`: the :class:`SimulatedUser` and its :class:`Phrasings`;
- :mod:`~recagent.simulation.systems`: the systems under test (:class:`AgentSystem`,
  :class:`HttpSystem`); :mod:`~recagent.simulation.baselines`: the floors (:class:`CFFloor`,
  :class:`FilterFloor`);
- :mod:`~recagent.simulation.conversation`: running them (:func:`run_matrix`), into
  :mod:`~recagent.simulation.transcript` records;
- :mod:`~recagent.simulation.metrics` (:func:`summarize`) and
  :mod:`~recagent.simulation.report` (:func:`format_table`, :func:`report_json`).
"""

from __future__ import annotations

from recagent.simulation.baselines import CFFloor, FilterFloor
from recagent.simulation.conversation import (
    RunResult,
    SystemName,
    Variant,
    run_conversations,
    run_episode,
    run_matrix,
)
from recagent.simulation.episodes import (
    MAX_SIMILAR,
    MAX_TAGS,
    Attribute,
    AttributeKind,
    CatalogItem,
    Episode,
    SimCatalog,
    build_episodes,
    decade_of,
    mentions_title,
    sample_episodes,
)
from recagent.simulation.errors import SimulationError
from recagent.simulation.metrics import REPORT_KS, REPORT_TS, hdcg, summarize
from recagent.simulation.report import deterministic_part, format_table, report_json
from recagent.simulation.systems import (
    AgentSystem,
    HttpSystem,
    System,
    SystemReply,
    trace_counts,
    trace_tools,
)
from recagent.simulation.transcript import EpisodeResult, TurnRecord
from recagent.simulation.user import (
    ACCEPT,
    ACCEPT_K,
    DEFAULT_PHRASINGS,
    NEUTRAL,
    NUDGE,
    OPEN_CATEGORY,
    OPEN_DECADE,
    REJECT,
    REVEAL,
    Phrasings,
    SimulatedUser,
    Utterance,
    UtteranceKind,
    decade_phrases,
)
from recagent.simulation.workspace import (
    POSITIVE_RATING,
    WORKSPACE_VERSION,
    Target,
    Workspace,
    choose_targets,
    prepare_workspace,
    read_ratings,
    workspace_fingerprint,
)

__all__ = [
    "ACCEPT", "ACCEPT_K", "DEFAULT_PHRASINGS", "MAX_SIMILAR", "MAX_TAGS", "NEUTRAL", "NUDGE",
    "OPEN_CATEGORY", "OPEN_DECADE", "POSITIVE_RATING", "REJECT", "REPORT_KS", "REPORT_TS",
    "REVEAL", "WORKSPACE_VERSION", "AgentSystem", "Attribute", "AttributeKind", "CFFloor",
    "CatalogItem", "Episode", "EpisodeResult", "FilterFloor", "HttpSystem", "Phrasings",
    "RunResult", "SimCatalog", "SimulatedUser", "SimulationError", "System", "SystemName",
    "SystemReply", "Target", "TurnRecord", "Utterance", "UtteranceKind", "Variant",
    "Workspace", "build_episodes", "choose_targets", "decade_of", "decade_phrases",
    "deterministic_part", "format_table", "hdcg", "mentions_title", "prepare_workspace",
    "read_ratings", "report_json", "run_conversations", "run_episode", "run_matrix",
    "sample_episodes", "summarize", "trace_counts", "trace_tools", "workspace_fingerprint",
]
