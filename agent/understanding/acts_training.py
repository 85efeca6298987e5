"""Training the dialogue-act model from annotated dialogues (offline; ``recagent train-acts``).

Input: the IARD JSON layout (a list of ``{"conversation_id", "conversation": [{"participant",
"utterance", "dialogue_acts": [{"intent"}]}]}``); the seeker's (``USER``) utterances are the
examples, their intents the labels. Item mentions, written ``Title (Year)`` in that data, are
masked like the grounded mentions of a live message; the data's item nouns (``--nouns``) are
masked like the catalog's. A seeded split by conversation holds back ``heldout`` of the
dialogues: the shipped model is trained on the rest and its metrics on the held-back part go
into the artifact's metadata.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from agent.understanding.acts import ARTIFACT_PREFIX, SEEKING, ActsModel
from agent.understanding.features import features, mask

_YEAR_MENTION = re.compile(r"\(\s*(1[89]\d\d|20\d\d)\s*\)")
_WORD_BEFORE = re.compile(r"(\S+)\s*$")


@dataclass
class Example:
    conversation: str
    text: str
    labels: list[str]


class TrainingDataError(ValueError):
    pass


def mention_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of ``Title (Year)`` mentions: the year in brackets and the run of
    words before it that starts with a capital or digit (small words may sit inside)."""
    spans = []
    for m in _YEAR_MENTION.finditer(text):
        start = m.start()
        k = start
        pending = start
        while True:
            w = _WORD_BEFORE.search(text[:k])
            if not w or k - w.start(1) > 40 or any(ch in w.group(1) for ch in ").?!"):
                break
            word = w.group(1)
            if word[0].isupper() or word[0].isdigit():
                pending = w.start(1)
            elif len(word) > 3 or not word.isalpha():
                break
            k = w.start(1)
        spans.append((pending, m.end()))
    # "<Title (Year)>" duplicates some mentions in that data: mask the brackets too
    return spans


def read_examples(path: Path, participant: str = "USER") -> list[Example]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, list):
        raise TrainingDataError(f"{path}: expected a JSON list of conversations")
    out = []
    for n, conv in enumerate(data):
        if not isinstance(conv, dict) or not isinstance(conv.get("conversation"), list):
            raise TrainingDataError(f"{path}: conversation #{n} has no 'conversation' list")
        cid = str(conv.get("conversation_id", n))
        for turn in conv["conversation"]:
            if turn.get("participant") != participant:
                continue
            labels = sorted({a["intent"] for a in turn.get("dialogue_acts") or [] if "intent" in a})
            text = str(turn.get("utterance") or "").replace("<", " ").replace(">", " ")
            if labels and text.strip():
                out.append(Example(cid, text, labels))
    if not out:
        raise TrainingDataError(f"{path}: no labelled {participant} utterances")
    return out


def heldout_conversations(conversations: Sequence[str], heldout: float, seed: int) -> set[str]:
    """The conversation ids the seeded split holds back (what the model never saw)."""
    convs = sorted(set(conversations))
    random.Random(seed).shuffle(convs)
    return set(convs[: max(1, round(len(convs) * heldout))])


def split(examples: Sequence[Example], heldout: float, seed: int) -> tuple[list[Example],
                                                                           list[Example]]:
    held = heldout_conversations([e.conversation for e in examples], heldout, seed)
    return ([e for e in examples if e.conversation not in held],
            [e for e in examples if e.conversation in held])


def masked(example: Example, nouns: Sequence[str]) -> str:
    return mask(example.text, mention_spans(example.text), nouns)


def fit(train: Sequence[Example], nouns: Sequence[str], *, c: float, min_df: int,
        labels: Sequence[str] | None = None) -> ActsModel:
    texts = [masked(e, nouns) for e in train]
    vec = TfidfVectorizer(analyzer=features, min_df=min_df, sublinear_tf=True)
    x = vec.fit_transform(texts)
    labels = sorted({label for e in train for label in e.labels}) if labels is None else labels
    coef = np.zeros((len(labels), x.shape[1]), dtype=np.float64)
    intercept = np.zeros(len(labels), dtype=np.float64)
    for i, label in enumerate(labels):
        y = np.array([label in e.labels for e in train], dtype=np.int64)
        if y.min() == y.max():
            intercept[i] = 10.0 if y[0] else -10.0
            continue
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        clf.fit(x, y)
        coef[i] = clf.coef_[0]
        intercept[i] = clf.intercept_[0]
    vocab = {str(k): int(v) for k, v in vec.vocabulary_.items()}
    return ActsModel(list(labels), vocab, vec.idf_.astype(np.float64), coef, intercept)


def evaluate(model: ActsModel, examples: Sequence[Example], nouns: Sequence[str]
             ) -> dict[str, Any]:
    seeking_gold = {"IQU", "PRO", "CRI-A", "CRI-C", "CRI-F", "REJ", "NRE"}
    exact = top1 = tp = fp = fn = 0
    policy_ok = 0
    for e in examples:
        acts = model.predict(masked(e, nouns))
        pred = set(acts.labels())
        gold = set(e.labels)
        exact += pred == gold
        top1 += acts.top in gold
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
        policy_ok += (acts.seeking >= acts.social) == bool(gold & (seeking_gold | SEEKING))
    n = len(examples) or 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "utterances": len(examples),
        "top1_accuracy": round(top1 / n, 4),
        "exact_match": round(exact / n, 4),
        "micro_f1": round(2 * precision * recall / (precision + recall), 4)
        if precision + recall else 0.0,
        "seek_vs_social_accuracy": round(policy_ok / n, 4),
    }


ATTRIBUTION = (
    "Trained on IARD (Cai and Chen, 'Predicting User Intents and Satisfaction with "
    "Dialogue-based Conversational Recommendations', UMAP 2020) annotations of ReDial dialogues "
    "(Li et al., 'Towards Deep Conversational Recommendations', NeurIPS 2018, CC BY 4.0), in the "
    "JSON formatting of the UserSimCRS project (iai-group, Apache-2.0)."
)


def train(data: Path, out_root: Path, *, nouns: Sequence[str], heldout: float = 0.2,
          seed: int = 42, c: float = 4.0, min_df: int = 2, attribution: str = ATTRIBUTION
          ) -> tuple[Path, dict[str, Any]]:
    """Train, evaluate on the held-back conversations, write a new ``acts-*`` artifact."""
    examples = read_examples(data)
    train_part, held = split(examples, heldout, seed)
    started = time.perf_counter()
    model = fit(train_part, nouns, c=c, min_df=min_df)
    metrics = {"heldout": evaluate(model, held, nouns), "train": evaluate(model, train_part, nouns)}
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    model.metadata = {
        "data": data.name,
        "data_sha256": digest,
        "params": {"heldout": heldout, "seed": seed, "C": c, "min_df": min_df,
                   "nouns": list(nouns), "features": len(model.vocabulary)},
        "heldout_conversations": len({e.conversation for e in held}),
        "train_utterances": len(train_part),
        "fit_seconds": round(time.perf_counter() - started, 2),
        "attribution": attribution,
        **metrics,
    }
    out_root.mkdir(parents=True, exist_ok=True)
    version = time.strftime("%Y%m%dT%H%M%S") + f"-{digest[:8]}"
    final = out_root / f"{ARTIFACT_PREFIX}{version}"
    with tempfile.TemporaryDirectory(dir=out_root) as tmp:
        staged = model.save(Path(tmp) / "staged")
        staged.rename(final)
    return final, model.metadata
