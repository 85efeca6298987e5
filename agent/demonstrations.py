"""Demonstrations: (request -> plan as tool calls) examples, the k most similar in the prompt.

Seeded files live next to this module (``demonstrations/movielens.jsonl`` for a MovieLens-like
catalog, ``demonstrations/generic.jsonl`` for any catalog); one JSON object per line::

    {"request": "90s comedies, no horror",
     "plan": [{"name": "filter_items", "args": {...}}, ...]}

A plan may be empty with a ``reply`` instead (the model asks a clarifying question).
Retrieval is TF-IDF cosine (scikit-learn) over word unigrams and bigrams of the request,
deterministic (ties broken by file order). With ``settings.learn_demonstrations`` the agent
appends turns that got positive feedback to a learned file, read alongside the seeded ones.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from agent.vocabulary import norm

SEED_DIR = Path(__file__).parent / "demonstrations"
MAX_LEARNED = 2000
MIN_DOMAIN_SHARE = 0.6  # a seeded file is this catalog's domain when this share of it fits
SCORE_DECIMALS = 12  # cosines equal to this precision are a tie (file order decides)


class DemonstrationError(ValueError):
    """A demonstrations file has a bad line (``FILE:LINE: what``)."""


@dataclass(frozen=True)
class Demonstration:
    request: str
    plan: tuple[tuple[str, str], ...]  # (tool name, JSON args) -- hashable and ordered
    reply: str = ""
    source: str = ""

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [{"name": n, "args": json.loads(a)} for n, a in self.plan]

    def render(self) -> str:
        """Compact prompt form: ``User: ...`` then one ``name {args}`` line per call."""
        lines = [f"User: {self.request}"]
        if self.plan:
            lines.extend(f"-> {name} {args}" for name, args in self.plan)
        else:
            lines.append(f"-> (no tools) reply: {self.reply}")
        return "\n".join(lines)

    def to_json(self) -> str:
        obj: dict[str, Any] = {"request": self.request, "plan": self.calls}
        if self.reply:
            obj["reply"] = self.reply
        return json.dumps(obj, ensure_ascii=False)


def parse_line(line: str, where: str) -> Demonstration:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise DemonstrationError(f"{where}: not JSON ({exc})") from None
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("request"), str)
        or not obj["request"].strip()
    ):
        raise DemonstrationError(f'{where}: needs a non-empty "request" string')
    plan = obj.get("plan", [])
    if not isinstance(plan, list):
        raise DemonstrationError(f'{where}: "plan" must be a list of {{name, args}}')
    calls = []
    for call in plan:
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not isinstance(call.get("args", {}), dict)
        ):
            raise DemonstrationError(f'{where}: each plan step needs "name" and "args" {{}}')
        calls.append(
            (call["name"], json.dumps(call.get("args", {}), sort_keys=True, ensure_ascii=False))
        )
    reply = obj.get("reply", "")
    if not calls and not reply:
        raise DemonstrationError(f'{where}: an empty plan needs a "reply"')
    return Demonstration(obj["request"].strip(), tuple(calls), str(reply), where.split(":")[0])


def read_file(path: Path) -> list[Demonstration]:
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("//"):
                out.append(parse_line(line, f"{path}:{lineno}"))
    return out


@dataclass
class DemonstrationStore:
    """The examples and a TF-IDF index over their requests."""

    items: list[Demonstration] = field(default_factory=list)
    learned_path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # (fitted vectorizer, unit-length TF-IDF rows, the items they index), swapped whole
    _index: tuple[TfidfVectorizer, Any, list[Demonstration]] | None = field(
        default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._reindex()

    @classmethod
    def load(
        cls,
        domains: Sequence[str] = ("movielens", "generic"),
        *,
        learned_path: Path | None = None,
        tools: Iterable[str] | None = None,
    ) -> DemonstrationStore:
        """Seeded ``domains`` plus the learned file; with ``tools``, examples calling a tool
        that is not registered are left out (a plug-in-free catalog never sees them)."""
        items: list[Demonstration] = []
        for domain in domains:
            items.extend(read_file(SEED_DIR / f"{domain}.jsonl"))
        if learned_path is not None and learned_path.exists():
            items.extend(read_file(learned_path)[-MAX_LEARNED:])
        if tools is not None:
            known = set(tools)
            items = [d for d in items if all(n in known for n, _a in d.plan)]
        return cls(items=items, learned_path=learned_path)

    def for_catalog(self, categories: Iterable[str], titles: Container[str],
                    min_share: float = MIN_DOMAIN_SHARE) -> DemonstrationStore:
        """Only the examples of this catalog's domain: an example fits when every category
        it filters on is a catalog category and every title it looks up is a catalog title
        (``titles``: normalised); a seeded file is used when at least ``min_share`` of its
        examples fit (a books file says nothing to a film catalog), and then only its fitting
        examples. Learned examples (this catalog's own) always stay."""
        known = {c.casefold() for c in categories}

        def fits(d: Demonstration) -> bool:
            for call in d.calls:
                args = call["args"]
                for key in ("categories_any", "categories_all", "categories_none"):
                    if any(str(c).casefold() not in known for c in args.get(key) or []):
                        return False
                if call["name"] == "lookup_items" and any(
                        norm(str(n)) not in titles for n in args.get("names") or []):
                    return False
            return True

        by_source: dict[str, list[Demonstration]] = {}
        for d in self.items:
            by_source.setdefault(d.source, []).append(d)
        learned = str(self.learned_path) if self.learned_path is not None else None
        kept: list[Demonstration] = []
        for source, demos in by_source.items():
            good = [d for d in demos if fits(d)]
            if source == learned or len(good) >= min_share * len(demos):
                kept.extend(demos if source == learned else good)
        return DemonstrationStore(items=kept, learned_path=self.learned_path)

    def _reindex(self) -> None:
        """Fit the TF-IDF index: casefolded ``[a-z0-9]+`` words and word bigrams,
        sublinear term frequency, smoothed IDF, unit-length rows."""
        vectorizer = TfidfVectorizer(preprocessor=str.casefold, token_pattern=r"[a-z0-9]+",
                                     ngram_range=(1, 2), sublinear_tf=True)
        try:
            matrix = vectorizer.fit_transform([d.request for d in self.items])
        except ValueError:  # no examples, or none with a word: nothing to retrieve by
            self._index = None
        else:
            self._index = (vectorizer, matrix, self.items)

    def similar(self, request: str, k: int = 3) -> list[Demonstration]:
        """The ``k`` examples whose requests are closest to ``request`` (cosine, TF-IDF)."""
        with self._lock:
            index = self._index
        if k <= 0 or index is None:
            return []
        vectorizer, matrix, items = index
        scores = cosine_similarity(matrix, vectorizer.transform([request]))[:, 0]
        order = np.argsort(-scores.round(SCORE_DECIMALS), kind="stable")
        out: list[Demonstration] = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for pos in order:
            demo = items[pos]
            if demo.plan in seen and demo.plan:
                continue  # variety: two examples with the same plan teach nothing more
            seen.add(demo.plan)
            out.append(demo)
            if len(out) == k:
                break
        return out

    def learn(self, request: str, calls: Sequence[dict[str, Any]]) -> Demonstration | None:
        """Append a (request, plan) that got positive feedback; ``None`` if not stored
        (no learned file configured, an empty plan, or already known)."""
        if self.learned_path is None or not calls or not request.strip():
            return None
        demo = parse_line(
            json.dumps({"request": request.strip()[:500], "plan": list(calls)}),
            f"{self.learned_path}:learned",
        )
        with self._lock:
            if any(d.request == demo.request and d.plan == demo.plan for d in self.items):
                return None
            self.learned_path.parent.mkdir(parents=True, exist_ok=True)
            with self.learned_path.open("a", encoding="utf-8") as f:
                f.write(demo.to_json() + "\n")
            self.items = [*self.items, demo]
            self._reindex()
        return demo
