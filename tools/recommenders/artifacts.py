"""Versioned model artifacts: ``<model_dir>/<UTC timestamp>-<fingerprint8>/``.

An artifact folder holds one sub-folder per model (``als/``, ``bpr/``, ...; see
``MatrixRecommender.save``), optionally ``text/`` (the text index), ``meta.json`` (data
fingerprint, parameters, metrics, created-at, library versions) and, written last, an empty
``COMPLETE`` marker. It is assembled in a hidden temporary folder (``.tmp-*``) and renamed
into place, so a reader never sees a half-written artifact: :func:`latest_artifact` only
considers correctly named folders that have the marker, newest name first.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tools.recommenders.bundle import ModelBundle
from tools.recommenders.registry import registry
from tools.recommenders.text import TextIndex

META_FILE = "meta.json"
COMPLETE_MARKER = "COMPLETE"
TEXT_DIR = "text"
_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
_STAMP = "%Y%m%dT%H%M%S%fZ"


def artifact_name(fingerprint: str, when: datetime) -> str:
    fp = (fingerprint or "0" * 8)[:8].lower()
    if not re.fullmatch(r"[0-9a-f]{8}", fp):
        raise ValueError(f"fingerprint must start with 8 hex digits, got {fingerprint!r}")
    return f"{when.astimezone(UTC).strftime(_STAMP)}-{fp}"


def library_versions() -> dict[str, str]:
    out = {}
    for dist in ("recagent", "implicit", "numpy", "scipy", "scikit-learn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


@contextmanager
def writing_artifact(model_dir: Path, fingerprint: str) -> Iterator[Path]:
    """Yield a hidden temporary folder under ``model_dir`` to fill and then :func:`publish`;
    if anything raises before that, the temporary folder is removed."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{secrets.token_hex(6)}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, fingerprint: str, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` and the ``COMPLETE`` marker into ``tmp`` and rename it into
    place under its parent. Returns the final path."""
    when = datetime.now(UTC)
    meta = {**meta, "fingerprint": fingerprint, "created_at": when.isoformat(),
            "libraries": library_versions()}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    (tmp / COMPLETE_MARKER).write_text("")
    for _attempt in range(100):  # bounded: a clash needs the same microsecond
        final = tmp.parent / artifact_name(fingerprint, when)
        try:
            os.rename(tmp, final)  # atomic; fails if final exists and is not empty
            return final
        except OSError:
            if not final.exists():
                raise
            when += timedelta(microseconds=1)
    raise RuntimeError(f"could not find a free artifact name in {tmp.parent}")


def list_artifacts(model_dir: Path) -> list[Path]:
    """Complete artifacts, oldest first."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = [
        p for p in model_dir.iterdir()
        if p.is_dir() and _NAME.match(p.name) and (p / COMPLETE_MARKER).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def latest_artifact(model_dir: Path) -> Path | None:
    """The newest complete artifact folder, or ``None``."""
    found = list_artifacts(model_dir)
    return found[-1] if found else None


def read_meta(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(path) / META_FILE).read_text())
    return data


def load_bundle(model_dir: Path) -> ModelBundle:
    """Every model of the newest complete artifact (+ its text index when present)."""
    path = latest_artifact(model_dir)
    if path is None:
        raise FileNotFoundError(
            f"no complete model artifact under {model_dir} (run `recagent train`)"
        )
    meta = read_meta(path)
    models = {}
    for name in meta.get("models", []):
        cls = registry.get(name)
        if cls is None:
            raise ValueError(f"{path}: unknown model {name!r}")
        models[name] = cls.load(path / name)
    text = TextIndex.load(path / TEXT_DIR) if (path / TEXT_DIR).is_dir() else None
    return ModelBundle(models=models, text=text, path=path, meta=meta)  # type: ignore[arg-type]


def _text_index_class() -> type[TextIndex]:
    """The text index class (kept for callers that build the index into an artifact)."""
    return TextIndex
