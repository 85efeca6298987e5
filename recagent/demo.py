"""First-run preparation for the demo: migrate, import the bundled MovieLens, train.

Idempotent: the second run finds the schema current, the catalog filled with the same data
(its fingerprint is recorded in ``demo_state.json`` next to the model folder) and a complete
model artifact, and returns at once with ``status == "already prepared"``.

The state also records what the demo's catalog holds (``item_noun``: movies), so that every
command run against that database -- ``recagent chat``, ``recagent serve``, not only
``recagent demo`` -- speaks of movies (:func:`catalog_settings`); ``RECAGENT_ITEM_NOUN``,
when set, still wins, and any other database keeps its configured noun.
"""

from __future__ import annotations

import json
import os
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from recagent.settings import Settings
from tools.catalog.db import ensure_schema, make_engine
from tools.catalog.ingest import ingest_movielens, movielens_fingerprint
from tools.catalog.models import Interaction, Item
from tools.recommenders import training
from tools.recommenders.artifacts import latest_artifact

STATE_FILE = "demo_state.json"
DEMO_NOUN = "movie"  # what the bundled catalog holds


def bundled_movielens_dir() -> Path:
    """The ml-latest-small copy shipped inside the package."""
    return Path(str(files("recagent.data") / "ml-latest-small"))


def state_path(settings: Settings) -> Path:
    return Path(settings.model_dir).parent / STATE_FILE


def _database_key(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def catalog_settings(settings: Settings) -> Settings:
    """``settings`` speaking of what the catalog holds: for a database the demo filled,
    its recorded noun (unless ``RECAGENT_ITEM_NOUN`` is set); otherwise unchanged."""
    if "item_noun" in settings.model_fields_set:
        return settings
    try:
        entry = _read_state(state_path(settings)).get("databases", {}).get(
            _database_key(settings.database_url))
    except Exception:  # an odd URL or state: the configured words stand
        return settings
    if not isinstance(entry, dict):
        return settings
    noun = entry.get("item_noun", DEMO_NOUN)  # a state written before nouns were recorded
    if not isinstance(noun, str) or not noun.strip():
        return settings
    return settings.model_copy(update={"item_noun": noun.strip()})


def prepare_demo(settings: Settings, *, progress: bool = True) -> dict[str, Any]:
    """Bring the database and models to what the demo needs; a no-op when they are there.

    Imports the bundled MovieLens when the catalog has no items (or when this database was
    filled by an earlier demo run from different data), then trains when there is no
    complete model artifact (or the data was just re-imported). Returns what it did:
    ``status`` ("prepared" / "already prepared"), ``steps``, ``items``, ``interactions``,
    ``artifact``, ``seconds`` and, when it imported, ``import`` (the summary line).
    """
    started = time.perf_counter()
    data_dir = bundled_movielens_dir()
    fingerprint = movielens_fingerprint(data_dir)
    path = state_path(settings)
    state = _read_state(path)
    databases: dict[str, Any] = state.setdefault("databases", {})
    db_key = _database_key(settings.database_url)
    steps: list[str] = []
    result: dict[str, Any] = {}

    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            has_items = conn.scalar(select(Item.item_id).limit(1)) is not None
        recorded = databases.get(db_key, {}).get("data_fingerprint")
        if not has_items or (recorded is not None and recorded != fingerprint):
            report = ingest_movielens(engine, data_dir, progress=progress)
            result["import"] = report.summary()
            databases[db_key] = {"data_fingerprint": fingerprint, "item_noun": DEMO_NOUN}
            steps.append("ingest")
            if progress:
                print(report.summary(), flush=True)

        artifact = latest_artifact(Path(settings.model_dir))
        if artifact is None or "ingest" in steps:
            artifact = training.train(engine, Path(settings.model_dir), seed=settings.seed,
                                      progress=progress)
            steps.append("train")
        with engine.connect() as conn:
            result["items"] = conn.scalar(select(func.count()).select_from(Item))
            result["interactions"] = conn.scalar(select(func.count()).select_from(Interaction))
    finally:
        engine.dispose()

    if steps:
        _write_state(path, state)
    result.update(
        status="prepared" if steps else "already prepared",
        steps=steps,
        artifact=str(artifact),
        seconds=round(time.perf_counter() - started, 3),
    )
    return result
