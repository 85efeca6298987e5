"""Dialogue acts: what a message *does* (asks, adds a criterion, rejects, thanks, ...).

A multi-label linear model (one logistic regression per act over the features of
:mod:`agent.understanding.features`), trained offline by :mod:`agent.understanding.acts_training`
on annotated real dialogues and shipped as a versioned artifact: ``model.json`` (labels,
feature vocabulary, metadata: data fingerprint, parameters, held-back metrics, attribution)
and ``weights.npz`` (idf, coefficients, intercepts). Plain arrays and JSON, never pickle.

The act codes are those of the training data (IARD, see the artifact's ``attribution``):
IQU initial query, PRO preference, CRI-A/CRI-C/CRI-F critiques, REF refine, REJ reject,
NRE neutral, SEE seen, ACC accept, INQ inquire about an item, ANS answer, ASK ask the
recommender, CON continue, STO stop, OTH other (greetings, thanks, goodbyes, chit-chat).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from agent.understanding.features import features

ARTIFACT_PREFIX = "acts-"
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
COMPLETE = "COMPLETE"
FORMAT_VERSION = 1

# acts after which a recommender owes a list, and acts that close or socialise
SEEKING = frozenset({"IQU", "PRO", "CRI-A", "CRI-C", "CRI-F", "REF", "REJ", "NRE", "ASK", "CON",
                     "ANS", "SEE"})
SOCIAL = frozenset({"OTH", "ACC", "STO", "END"})


class ActsModelError(RuntimeError):
    """A missing or unreadable dialogue-act artifact."""


@dataclass
class Acts:
    """One message's act probabilities."""

    probs: dict[str, float]

    @property
    def top(self) -> str:
        return max(self.probs, key=lambda k: self.probs[k])

    def p(self, *labels: str) -> float:
        return max((self.probs.get(label, 0.0) for label in labels), default=0.0)

    def labels(self, threshold: float = 0.5) -> list[str]:
        got = [k for k, v in sorted(self.probs.items(), key=lambda kv: -kv[1]) if v >= threshold]
        return got or [self.top]

    @property
    def seeking(self) -> float:
        return self.p(*SEEKING)

    @property
    def social(self) -> float:
        return self.p(*SOCIAL)


@dataclass
class ActsModel:
    labels: list[str]
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict(self, masked_text: str) -> Acts:
        """Act probabilities of one message (mentions and nouns already masked)."""
        counts: dict[int, int] = {}
        for f in features(masked_text):
            j = self.vocabulary.get(f)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        scores = self.intercept.astype(np.float64).copy()
        if counts:
            idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            vals = (1.0 + np.log(tf)) * self.idf[idx]
            norm = math.sqrt(float(vals @ vals)) or 1.0
            scores += self.coef[:, idx].astype(np.float64) @ (vals / norm)
        probs = 1.0 / (1.0 + np.exp(-scores))
        return Acts({label: float(p) for label, p in zip(self.labels, probs, strict=True)})

    # ---- persistence ----------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the artifact into ``folder`` (created; COMPLETE written last)."""
        folder.mkdir(parents=True, exist_ok=False)
        vocab = sorted(self.vocabulary, key=lambda k: self.vocabulary[k])
        (folder / MODEL_FILE).write_text(
            json.dumps(
                {"format": FORMAT_VERSION, "labels": self.labels, "vocabulary": vocab,
                 "metadata": self.metadata},
                ensure_ascii=False, indent=0,
            ),
            encoding="utf-8",
        )
        np.savez_compressed(
            folder / WEIGHTS_FILE,
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16),
            intercept=self.intercept.astype(np.float32),
        )
        (folder / COMPLETE).write_text("ok\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> ActsModel:
        if not (folder / COMPLETE).exists():
            raise ActsModelError(f"{folder}: not a complete dialogue-act artifact")
        try:
            doc = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
            with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
                idf = arrays["idf"].astype(np.float64)
                coef = arrays["coef"].astype(np.float32)
                intercept = arrays["intercept"].astype(np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise ActsModelError(f"{folder}: unreadable dialogue-act artifact: {exc}") from None
        if doc.get("format") != FORMAT_VERSION:
            raise ActsModelError(f"{folder}: artifact format {doc.get('format')!r} is not "
                                 f"{FORMAT_VERSION}")
        vocab = {f: j for j, f in enumerate(doc["vocabulary"])}
        labels = list(doc["labels"])
        if coef.shape != (len(labels), len(vocab)) or idf.shape != (len(vocab),):
            raise ActsModelError(f"{folder}: weights do not match the vocabulary")
        return cls(labels, vocab, idf, coef, intercept, dict(doc.get("metadata") or {}))


def bundled_dir() -> Path:
    """Where the package keeps its trained artifacts (``agent/understanding/models``)."""
    return Path(str(resources.files("agent.understanding") / "models"))


def newest(root: Path) -> Path | None:
    """The newest complete ``acts-*`` artifact under ``root``."""
    if not root.is_dir():
        return None
    found = sorted(p for p in root.glob(ARTIFACT_PREFIX + "*") if (p / COMPLETE).exists())
    return found[-1] if found else None


_CACHE: dict[Path, ActsModel] = {}


def load_acts_model(root: Path | None = None) -> ActsModel:
    """The newest dialogue-act model under ``root`` (default: the bundled one); cached."""
    folder = newest(root or bundled_dir())
    if folder is None:
        raise ActsModelError(f"no dialogue-act artifact under {root or bundled_dir()}; "
                             "build one with `recagent train-acts`")
    if folder not in _CACHE:
        _CACHE[folder] = ActsModel.load(folder)
    return _CACHE[folder]
