"""Dialogue replay benchmark: real seeker utterances replayed through the agent (issue 10).

Every dialogue of an IARD-format file (default: the bundled ``recagent/data/iard-partial``,
259 ReDial dialogues with gold dialogue-act labels) gets one new session; its seeker
(``USER``) utterances are sent in order through ``runtime.agent.turn(message, limit=k)``.
A dialogue with accepted titles is replayed only up to the first utterance that names an
accepted movie (normally the recommender's), so the agent must find it from what the seeker
said before; a dialogue without one is replayed whole. The same harness replays two floors
on the same dialogues and stopping points: popularity, and ALS fold-in of the items the
seeker named so far. Definitions: ``docs/replay.md``.

    OPENBLAS_NUM_THREADS=1 nice .venv/bin/python benchmarks/replay.py [--dialogues FILE]
        [--k 10] [--limit N] [--json OUT] [--examples N]

``--dialogues``: a JSON list of ``{"conversation_id", "conversation": [{"participant":
"USER"|"AGENT", "utterance", "dialogue_acts": [{"intent", "slot_values"}]}], "metadata":
{"accepted_recommendations": [title, ...]}}`` -- the IARD format, see
``recagent/data/iard-partial/README.md``. Movie mentions are ``Title (Year)`` in the text.

The catalog (SQLite, ingested from the bundled ml-latest-small) and the models (trained with
``tools.recommenders.training.train``) are built once under ``var/replay/<key>/`` and reused;
each run works on a scratch copy of the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

# run as a script, benchmarks/ comes first on sys.path and benchmarks/tools.py would shadow
# the ``tools`` package: the repository root goes in front
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.catalog.text import normalize_title  # noqa: E402

DEFAULT_DIALOGUES = ROOT / "recagent" / "data" / "iard-partial" / "dialogues.json"
ML_DIR = ROOT / "recagent" / "data" / "ml-latest-small"
WORK_DIR = ROOT / "var" / "replay"
WORKSPACE_VERSION = "1"  # bump when the prepared catalog/models are built differently

# seeker turns that ask for recommendations, by their gold intents (issue 10: "IQU, CRI-*,
# PRO, REJ, NRE")
SEEKING = frozenset({"IQU", "CRI-A", "CRI-C", "CRI-F", "PRO", "REJ", "NRE"})
# a seeker turn labelled only with these is social: a greeting before the first
# rec-seeking turn, a goodbye after the last one
SOCIAL = frozenset({"OTH", "ACC", "STO", "END"})
MAX_TITLE_WORDS = 12  # longest word span tried in front of a "(Year)"
YEAR_SLACK = 1  # a mention's year may be off by this much from the catalog's (exact first)

_YEAR = re.compile(r"\((\d{4})\)")
# ReDial repeats some mentions in angle brackets: "Mama (2013) <Mama (2013)>"
_DUPLICATE = re.compile(r"<[^<>]*\(\d{4}\)\s*>")
# words that may sit inside a title between capitalised words ("Lord of the Rings")
_TITLE_GLUE = frozenset({"of", "the", "and", "a", "an", "in", "on", "to", "for", "with",
                         "at", "from", "vs", "vs.", "&", "-", "or", "is", "my", "me", "you"})


class ReplayError(RuntimeError):
    """The benchmark cannot run (unreadable dialogues file, missing data)."""


# --------------------------------------------------------------------------------------
# dialogues


@dataclass(frozen=True)
class Utterance:
    participant: str  # "USER" (seeker) or "AGENT" (recommender)
    text: str
    intents: tuple[str, ...]  # gold dialogue acts


@dataclass(frozen=True)
class Dialogue:
    dialogue_id: str
    utterances: tuple[Utterance, ...]
    accepted: tuple[str, ...]  # accepted titles, without year, stripped


def parse_dialogues(data: Any, source: str = "<dialogues>") -> list[Dialogue]:
    """The IARD JSON (already decoded) -> dialogues; a malformed entry raises naming it."""
    if not isinstance(data, list):
        raise ReplayError(f"{source}: expected a JSON list of conversations")
    out: list[Dialogue] = []
    for n, conv in enumerate(data):
        where = f"{source}: conversation #{n}"
        try:
            utterances = tuple(
                Utterance(str(u["participant"]).upper(), str(u["utterance"]),
                          tuple(str(a["intent"]) for a in u.get("dialogue_acts") or []))
                for u in conv["conversation"]
            )
            meta = conv.get("metadata") or {}
            accepted = tuple(t.strip() for t in meta.get("accepted_recommendations") or []
                             if str(t).strip())
            out.append(Dialogue(str(conv.get("conversation_id", n)), utterances, accepted))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ReplayError(f"{where}: not in the IARD format ({exc!r})") from None
    return out


def load_dialogues(path: Path) -> list[Dialogue]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReplayError(f"{path}: {exc}") from None
    return parse_dialogues(data, str(path))


# --------------------------------------------------------------------------------------
# titles: the catalog's index and the mentions in the text


@dataclass(frozen=True)
class CatalogEntry:
    item_id: str
    title: str  # display title, article in front ("The Matrix")
    year: int | None
    popularity: float
    alt_titles: tuple[str, ...] = ()


class TitleIndex:
    """Normalized title (+ year) -> catalog items, most popular first.

    Keys are :func:`normalize_title` of the display title, of each alternate title, and --
    as a weaker alias tried after them -- of the part before a colon ("Star Wars" for
    "Star Wars: Episode IV - A New Hope"). ``normalize_title`` meets "Matrix, The (1999)",
    "The Matrix" and "matrix" at "matrix", so the article suffix is handled both ways."""

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self.entries: dict[str, CatalogEntry] = {}
        self._exact: dict[tuple[str, int | None], list[str]] = {}
        self._alias: dict[tuple[str, int | None], list[str]] = {}
        self._by_norm: dict[str, list[str]] = {}
        ordered = sorted(entries, key=lambda e: (-e.popularity, _id_key(e.item_id)))
        for e in ordered:
            self.entries[e.item_id] = e
            names = {normalize_title(t) for t in (e.title, *e.alt_titles)} - {""}
            for norm in names:
                self._exact.setdefault((norm, e.year), []).append(e.item_id)
                self._by_norm.setdefault(norm, []).append(e.item_id)
            for t in (e.title, *e.alt_titles):
                if ":" in t:
                    head = normalize_title(t.split(":", 1)[0])
                    if head and head not in names:
                        self._alias.setdefault((head, e.year), []).append(e.item_id)
        self.by_popularity = [e.item_id for e in ordered]

    def lookup(self, title: str, year: int | None) -> str | None:
        """The item called ``title`` from ``year``: the exact year first (title, then the
        before-the-colon alias), then +-YEAR_SLACK, then a catalog item without a year;
        the most popular one on a tie."""
        norm = normalize_title(title)
        if not norm:
            return None
        years: list[int | None] = [year]
        if year is not None:
            for d in range(1, YEAR_SLACK + 1):
                years += [year - d, year + d]
        if year is not None:
            years.append(None)  # a catalog item without a year matches any year
        for y in years:
            for table in (self._exact, self._alias):
                hit = table.get((norm, y))
                if hit:
                    return hit[0]
        return None

    def most_popular(self, title: str) -> str | None:
        """The most popular item with this normalized title, any year."""
        hit = self._by_norm.get(normalize_title(title))
        return hit[0] if hit else None

    def title_of(self, item_id: str) -> str:
        e = self.entries.get(item_id)
        if e is None:
            return item_id
        return f"{e.title} ({e.year})" if e.year else e.title


def _id_key(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


@dataclass(frozen=True)
class Mention:
    title: str  # the words taken as the title (the catalog match, else a guess)
    year: int
    item_id: str | None  # the catalog item, None when not in the catalog


def _year_spans(text: str) -> list[tuple[list[str], int]]:
    """For each "(Year)" in ``text``: the words in front of it (back to the previous
    mention or "...") and the year."""
    text = _DUPLICATE.sub(" ", text)
    out: list[tuple[list[str], int]] = []
    start = 0
    for m in _YEAR.finditer(text):
        before = text[start : m.start()]
        start = m.end()
        if "..." in before:
            before = before.rsplit("...", 1)[1]
        out.append((before.split(), int(m.group(1))))
    return out


def _guess_title(words: Sequence[str]) -> str:
    """The trailing run of capitalised words (with glue words inside) -- only to name a
    mention the catalog does not know."""
    taken: list[str] = []
    for w in reversed(words):
        if w[:1].isupper() or w[:1].isdigit() or not w[:1].isalnum() or w.lower() in _TITLE_GLUE:
            taken.append(w)
        else:
            break
    taken.reverse()
    while taken and (taken[0].lower() in _TITLE_GLUE and not taken[0][:1].isupper()):
        taken.pop(0)
    return " ".join(taken) or (words[-1] if words else "")


def parse_mentions(text: str, index: TitleIndex | None) -> list[Mention]:
    """The ``Title (Year)`` mentions of ``text``, mapped to catalog items.

    The title is the LONGEST run of words in front of the year (at most MAX_TITLE_WORDS)
    whose normalized form is a catalog title of that year (see :meth:`TitleIndex.lookup`);
    a mention no span of which matches keeps ``item_id=None``. Repeats are dropped."""
    out: list[Mention] = []
    seen: set[tuple[str, int]] = set()
    for words, year in _year_spans(text):
        mention: Mention | None = None
        if index is not None:
            for n in range(min(len(words), MAX_TITLE_WORDS), 0, -1):
                span = " ".join(words[-n:])
                item = index.lookup(span, year)
                if item is not None:
                    mention = Mention(span.strip(" ,.;:!?\"'"), year, item)
                    break
        if mention is None:
            mention = Mention(_guess_title(words).strip(" ,.;:!?\"'"), year, None)
        key = (mention.item_id or normalize_title(mention.title), year)
        if key not in seen:
            seen.add(key)
            out.append(mention)
    return out


def named_year(text: str, title: str) -> int | None:
    """The year of the first ``<title> (Year)`` in ``text`` (normalized comparison of the
    words right in front of the year), else None. Independent of the catalog."""
    norm = normalize_title(title)
    if not norm:
        return None
    for words, year in _year_spans(text):
        for n in range(min(len(words), MAX_TITLE_WORDS), 0, -1):
            if normalize_title(" ".join(words[-n:])) == norm:
                return year
    return None


def mention_coverage(dialogues: Iterable[Dialogue], index: TitleIndex) -> tuple[int, int]:
    """(mentions mapped to a catalog item, all mentions), both participants."""
    mapped = total = 0
    for d in dialogues:
        for u in d.utterances:
            for m in parse_mentions(u.text, index):
                total += 1
                mapped += m.item_id is not None
    return mapped, total


def stopping_point(dialogue: Dialogue) -> int | None:
    """Index of the first utterance that names an accepted title (``Title (Year)``), where
    the replay stops; None (replay everything) without accepted titles or when none is ever
    named. Normally an AGENT utterance; when the SEEKER names it first the replay stops
    there too (sending it would hand the answer to the system)."""
    if not dialogue.accepted:
        return None
    for i, u in enumerate(dialogue.utterances):
        if any(named_year(u.text, t) is not None for t in dialogue.accepted):
            return i
    return None


def accepted_items(dialogue: Dialogue, index: TitleIndex) -> list[str]:
    """The accepted titles as catalog items: with the year the AGENT used when naming the
    title (then any participant's), else the most popular item with that title."""
    out: list[str] = []
    for title in dialogue.accepted:
        year = None
        for who in ("AGENT", "USER"):
            for u in dialogue.utterances:
                if u.participant == who and (year := named_year(u.text, title)) is not None:
                    break
            if year is not None:
                break
        item = index.lookup(title, year) if year is not None else None
        item = item or index.most_popular(title)
        if item is not None and item not in out:
            out.append(item)
    return out


def turn_kinds(dialogue: Dialogue) -> list[str | None]:
    """Per utterance (None for AGENT ones): "seeking" (gold intents include one of
    SEEKING), "greeting" / "goodbye" (all intents in SOCIAL, before the first / after the
    last rec-seeking turn of the whole dialogue), or "other". In a dialogue with no
    rec-seeking turn the social turns are "other"."""
    seeking = [i for i, u in enumerate(dialogue.utterances)
               if u.participant == "USER" and SEEKING.intersection(u.intents)]
    kinds: list[str | None] = []
    for i, u in enumerate(dialogue.utterances):
        if u.participant != "USER":
            kinds.append(None)
        elif SEEKING.intersection(u.intents):
            kinds.append("seeking")
        elif seeking and u.intents and set(u.intents) <= SOCIAL and i < seeking[0]:
            kinds.append("greeting")
        elif seeking and u.intents and set(u.intents) <= SOCIAL and i > seeking[-1]:
            kinds.append("goodbye")
        else:
            kinds.append("other")
    return kinds


# --------------------------------------------------------------------------------------
# replay


@dataclass
class TurnRecord:
    index: int  # utterance index in the dialogue
    text: str
    intents: list[str]
    kind: str  # seeking / greeting / goodbye / other
    items: list[str]  # recommended item ids, in order
    titles: list[str]
    reply: str
    named: list[str]  # items the seeker named in this or an earlier utterance
    ms: float = 0.0

    @property
    def echo(self) -> bool:
        return bool(set(self.items) & set(self.named))


@dataclass
class DialogueRecord:
    dialogue_id: str
    accepted_titles: list[str]
    accepted: list[str]  # mapped accepted items
    stop: int | None  # utterance index the replay stopped before
    stop_by: str | None  # participant of that utterance
    turns: list[TurnRecord] = field(default_factory=list)

    def hit(self, k: int) -> bool:
        want = set(self.accepted)
        return any(want.intersection(t.items[:k]) for t in self.turns)


@dataclass(frozen=True)
class Reply:
    items: list[str]
    reply: str = ""


class System(Protocol):
    name: str

    async def start(self) -> None: ...

    async def turn(self, text: str, named: Sequence[str], k: int) -> Reply: ...


async def replay(system: System, dialogues: Sequence[Dialogue], index: TitleIndex, *, k: int,
                 progress: Callable[[int, int], None] | None = None) -> list[DialogueRecord]:
    """Replay every dialogue's seeker turns (up to its stopping point) through ``system``."""
    records: list[DialogueRecord] = []
    for n, dialogue in enumerate(dialogues, start=1):
        stop = stopping_point(dialogue)
        kinds = turn_kinds(dialogue)
        record = DialogueRecord(
            dialogue.dialogue_id, list(dialogue.accepted), accepted_items(dialogue, index),
            stop, dialogue.utterances[stop].participant if stop is not None else None,
        )
        await system.start()
        named: list[str] = []
        end = len(dialogue.utterances) if stop is None else stop
        for i, u in enumerate(dialogue.utterances[:end]):
            if u.participant != "USER":
                continue
            for m in parse_mentions(u.text, index):
                if m.item_id is not None and m.item_id not in named:
                    named.append(m.item_id)
            started = time.perf_counter()
            answer = await system.turn(u.text, list(named), k)
            ms = (time.perf_counter() - started) * 1e3
            items = list(answer.items)[:k]
            record.turns.append(TurnRecord(
                i, u.text, list(u.intents), kinds[i] or "other", items,
                [index.title_of(it) for it in items], answer.reply, list(named), ms,
            ))
        records.append(record)
        if progress is not None:
            progress(n, len(dialogues))
    return records


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


def summarize(records: Sequence[DialogueRecord], *, k: int) -> dict[str, Any]:
    """The metrics of one system's replay (definitions in docs/replay.md)."""
    with_accepted = [r for r in records if r.accepted_titles]
    mappable = [r for r in with_accepted if r.accepted]
    judged = [r for r in mappable if r.turns]
    turns = [t for r in records for t in r.turns]
    seeking = [t for t in turns if t.kind == "seeking"]
    goodbye = [t for t in turns if t.kind == "goodbye"]
    greeting = [t for t in turns if t.kind == "greeting"]
    answered = [t for t in turns if t.items]
    ms = [t.ms for t in turns]
    return {
        "dialogues": len(records),
        "turns": len(turns),
        "k": k,
        "accepted_dialogues": len(with_accepted),
        "accepted_mappable": len(mappable),
        "accepted_judged": len(judged),  # mappable and at least one seeker turn replayed
        "stopped_by_seeker": sum(1 for r in with_accepted if r.stop_by == "USER"),
        "never_named": sum(1 for r in with_accepted if r.stop is None),
        "hit@k": _share(sum(r.hit(k) for r in judged), len(judged)),
        "hit@5": _share(sum(r.hit(5) for r in judged), len(judged)),
        "seeking_turns": len(seeking),
        "seeking_answered": _share(sum(1 for t in seeking if t.items), len(seeking)),
        "goodbye_turns": len(goodbye),
        "goodbye_without_list": _share(sum(1 for t in goodbye if not t.items), len(goodbye)),
        "greeting_turns": len(greeting),
        "greeting_without_list": _share(sum(1 for t in greeting if not t.items),
                                        len(greeting)),
        "answered_turns": len(answered),
        "echo_rate": _share(sum(1 for t in answered if t.echo), len(answered)),
        "median_turn_ms": statistics.median(ms) if ms else None,
        "turns_per_s": len(ms) / (sum(ms) / 1e3) if ms and sum(ms) > 0 else None,
    }


def failures(records: Sequence[DialogueRecord], *, k: int) -> dict[str, list[dict[str, Any]]]:
    """Failing turns by kind: a rec-seeking turn with no list, a goodbye turn with a list,
    an echo, and -- per judged dialogue whose accepted item never reached the top k -- a
    miss (its last replayed turn)."""
    out: dict[str, list[dict[str, Any]]] = {"no_list": [], "goodbye_list": [], "echo": [],
                                            "miss": []}

    def row(r: DialogueRecord, t: TurnRecord, **extra: Any) -> dict[str, Any]:
        return {"dialogue": r.dialogue_id, "utterance": t.text, "intents": t.intents,
                "reply": t.reply, "titles": t.titles[:3], **extra}

    for r in records:
        for t in r.turns:
            if t.kind == "seeking" and not t.items:
                out["no_list"].append(row(r, t))
            if t.kind == "goodbye" and t.items:
                out["goodbye_list"].append(row(r, t))
            if t.echo:
                out["echo"].append(row(r, t, echoed=[
                    title for item, title in zip(t.items, t.titles, strict=True)
                    if item in t.named]))
        if r.accepted and r.turns and not r.hit(k):
            out["miss"].append(row(r, r.turns[-1], accepted=r.accepted_titles))
    return out


# --------------------------------------------------------------------------------------
# formatting


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if pct else f"{value:.1f}"
    return str(value)


def format_table(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    k = rows[0][1]["k"] if rows else 10
    head = (f"| system | hit@{k} | hit@5 | rec-seeking answered | goodbye without list | "
            "greeting without list | echo rate | median turn ms | turns/s |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for name, m in rows:
        lines.append(
            f"| {name} | {_fmt(m['hit@k'], True)} | {_fmt(m['hit@5'], True)} | "
            f"{_fmt(m['seeking_answered'], True)} | {_fmt(m['goodbye_without_list'], True)} | "
            f"{_fmt(m['greeting_without_list'], True)} | {_fmt(m['echo_rate'], True)} | "
            f"{_fmt(m['median_turn_ms'])} | "
            f"{'n/a' if m['turns_per_s'] is None else format(m['turns_per_s'], ',.0f')} |"
        )
    return "\n".join(lines)


def format_counts(m: dict[str, Any]) -> str:
    return (f"{m['dialogues']} dialogues, {m['turns']} seeker turns replayed; "
            f"{m['accepted_dialogues']} with accepted titles, {m['accepted_mappable']} mapped "
            f"to the catalog, {m['accepted_judged']} judged for hit@k (mapped and >= 1 seeker "
            f"turn before the stop; stopped by the seeker naming it: {m['stopped_by_seeker']}, "
            f"never named: {m['never_named']}); turns: {m['seeking_turns']} rec-seeking, "
            f"{m['goodbye_turns']} goodbye, {m['greeting_turns']} greeting, "
            f"{m['answered_turns']} answered with a list")


def format_examples(fails: dict[str, list[dict[str, Any]]], n: int) -> str:
    labels = {"no_list": "rec-seeking turn answered without a list",
              "goodbye_list": "goodbye turn answered with a list",
              "echo": "recommends an item the seeker named",
              "miss": "accepted movie never in the top k (last replayed turn)"}
    lines: list[str] = []
    for kind, label in labels.items():
        rows = fails.get(kind, [])
        lines.append(f"### {label}: {len(rows)}")
        for ex in rows[:n]:
            extra = ""
            if "accepted" in ex:
                extra = f" | accepted: {', '.join(ex['accepted'])}"
            if "echoed" in ex:
                extra = f" | echoed: {', '.join(ex['echoed'])}"
            reply = " ".join(ex["reply"].split())
            lines.append(f"- [{ex['dialogue']}] {ex['utterance']!r} {ex['intents']}{extra}\n"
                         f"  reply: {reply[:160]!r}\n  top 3: {ex['titles']}")
    return "\n".join(lines)


def acts_heldout() -> dict[str, Any] | None:
    """The dialogue-act classifier's held-back metrics, None when it does not exist yet."""
    import importlib

    try:
        acts = importlib.import_module("agent.understanding.acts")
        model = acts.load_acts_model()
        heldout = dict(model.metadata.get("heldout") or {})
    except Exception:
        return None
    return heldout or None


def acts_split() -> set[str] | None:
    """The conversation ids the bundled dialogue-act model held back (its recorded split)."""
    try:
        from agent.understanding.acts import load_acts_model
        from agent.understanding.acts_training import heldout_conversations
    except ImportError:
        return None
    try:
        model = load_acts_model()
    except Exception:
        return None
    params = model.metadata.get("params") or {}
    data = json.loads(DEFAULT_DIALOGUES.read_text(encoding="utf-8"))
    ids = [str(c.get("conversation_id", n)) for n, c in enumerate(data)]
    return heldout_conversations(ids, float(params.get("heldout", 0.2)),
                                 int(params.get("seed", 42)))


def format_acts(heldout: dict[str, Any] | None) -> str:
    if heldout is None:
        return "dialogue-act classifier, held-back: n/a"
    parts = []
    for key, value in heldout.items():
        if isinstance(value, float):
            parts.append(f"{key} {value:.3f}")
        elif isinstance(value, int | str):
            parts.append(f"{key} {value}")
    return "dialogue-act classifier, held-back: " + (", ".join(parts) or json.dumps(heldout))


# --------------------------------------------------------------------------------------
# the systems and the prepared workspace


def code_version() -> str:
    """``<short sha>`` of the checkout, ``+dirty`` when tracked code files under the
    service's packages differ from it (untracked files are not counted)."""
    import subprocess

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "agent", "tools",
                "memory", "api", "recagent")
    return sha + ("+dirty" if dirty else "")


def _fingerprint(data_dir: Path) -> str:
    from recagent.simulation.workspace import workspace_fingerprint

    return workspace_fingerprint(f"replay-workspace:{WORKSPACE_VERSION}", data_dir)


def prepare(data_dir: Path = ML_DIR, work_dir: Path = WORK_DIR, *, seed: int = 42) -> Path:
    """``work_dir/<key>/`` with ``catalog.db`` and ``models/``, built once (in a temporary
    folder renamed into place) and reused while data and code are unchanged."""
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_movielens
    from tools.recommenders.training import train

    root = Path(work_dir) / _fingerprint(data_dir)
    if (root / "READY").is_file():
        return root
    print(f"building the replay workspace in {root} (once)", file=sys.stderr)
    root.parent.mkdir(parents=True, exist_ok=True)
    # a folder of this run's own: two runs building at once never share (or delete) one
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".tmp-", dir=root.parent))
    try:
        engine = make_engine(f"sqlite:///{tmp / 'catalog.db'}")
        try:
            ingest_movielens(engine, data_dir)
            train(engine, tmp / "models", seed=seed, evaluate=False)
        finally:
            engine.dispose()
        (tmp / "READY").write_text(json.dumps({"seed": seed}))
        if not (root / "READY").is_file():  # else another run finished first: keep its
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def scratch_copy(root: Path, dst: Path) -> str:
    """A copy of the prepared catalog for one run (the agent may write profiles)."""
    from recagent.simulation.workspace import copy_sqlite

    return copy_sqlite(root / "catalog.db", dst)


def load_index(database_url: str) -> TitleIndex:
    from sqlalchemy import select

    from tools.catalog.db import make_engine
    from tools.catalog.models import Item

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Item.item_id, Item.title, Item.year, Item.popularity,
                                       Item.attributes)).all()
    finally:
        engine.dispose()
    return TitleIndex(
        CatalogEntry(str(i), str(t), y, float(p or 0.0),
                     tuple(str(a) for a in (attrs or {}).get("alt_titles") or ()))
        for i, t, y, p, attrs in rows
    )


class AgentSystem:
    name = "agent (rules planner)"

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.session_id: str | None = None

    async def start(self) -> None:
        self.session_id = None

    async def turn(self, text: str, named: Sequence[str], k: int) -> Reply:
        result = await self.agent.turn(text, session_id=self.session_id, limit=k)
        self.session_id = result.session_id
        return Reply([r.item_id for r in result.recommendations], result.reply)


class PopularityFloor:
    """The k most popular catalog items, minus the items the seeker named so far."""

    name = "floor: popularity"

    def __init__(self, index: TitleIndex) -> None:
        self.index = index

    async def start(self) -> None:
        return None

    async def turn(self, text: str, named: Sequence[str], k: int) -> Reply:
        drop = set(named)
        return Reply([i for i in self.index.by_popularity[: k + len(drop)] if i not in drop][:k])


class ALSFloor:
    """ALS fold-in of every item the seeker named so far (liked or not), those excluded;
    with nothing named yet, the model's popularity prior (``recommend_for_items([])``)."""

    name = "floor: ALS fold-in"

    def __init__(self, model: Any) -> None:
        self.model = model

    async def start(self) -> None:
        return None

    async def turn(self, text: str, named: Sequence[str], k: int) -> Reply:
        scored = self.model.recommend_for_items(list(named), k, exclude=list(named))
        return Reply([s.item_id for s in scored])


async def _run(args: argparse.Namespace, dialogues: list[Dialogue]) -> dict[str, Any]:
    from recagent.runtime import build_runtime
    from recagent.settings import load_settings
    from tools.recommenders.artifacts import load_bundle

    root = prepare()
    scratch = Path(tempfile.mkdtemp(prefix="recagent-replay-"))
    try:
        url = scratch_copy(root, scratch / "catalog.db")
        index = load_index(url)
        settings = load_settings(database_url=url, model_dir=root / "models", redis_url=None,
                                 item_noun="movie",
                                 llm="rules", plugins="", learn_demonstrations=False)
        runtime = await build_runtime(settings)
        started = time.perf_counter()
        try:
            agent_records = await replay(AgentSystem(runtime.agent), dialogues, index,
                                         k=args.k)
        finally:
            await runtime.aclose()
        agent_s = time.perf_counter() - started
        bundle = load_bundle(root / "models")
        floors: list[System] = [PopularityFloor(index), ALSFloor(bundle.get("als"))]
        results: list[tuple[str, list[DialogueRecord]]] = [("agent (rules planner)",
                                                             agent_records)]
        for floor in floors:
            results.append((floor.name, await replay(floor, dialogues, index, k=args.k)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"results": results, "agent_seconds": agent_s, "artifact": str(bundle.path),
            "mentions": mention_coverage(dialogues, index)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dialogues", type=Path, default=DEFAULT_DIALOGUES,
                        help="IARD-format JSON (default: the bundled iard-partial)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="first N dialogues only")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--examples", type=int, default=3,
                        help="example failing turns printed per failure kind")
    parser.add_argument("--split", choices=("all", "heldout", "train"), default="all",
                        help="only the conversations the dialogue-act model held back (or "
                             "trained on), by the split recorded in its artifact")
    args = parser.parse_args(argv)
    if not 1 <= args.k <= 100:
        parser.error("--k must be in 1..100")
    try:
        dialogues = load_dialogues(args.dialogues)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.split != "all":
        held = acts_split()
        if held is None:
            print("error: no dialogue-act artifact to take the split from", file=sys.stderr)
            return 2
        keep = args.split == "heldout"
        dialogues = [d for d in dialogues if (d.dialogue_id in held) == keep]
    if args.limit is not None:
        dialogues = dialogues[: max(0, args.limit)]
    started = time.perf_counter()
    run = asyncio.run(_run(args, dialogues))
    elapsed = time.perf_counter() - started
    rows = [(name, summarize(recs, k=args.k)) for name, recs in run["results"]]
    heldout = acts_heldout()
    agent_name, agent_records = run["results"][0]
    fails = failures(agent_records, k=args.k)
    version = code_version()
    print(f"code {version}; dialogues: {args.dialogues} ({args.split}) -- "
          f"{format_counts(rows[0][1])}")
    mapped, total = run["mentions"]
    print(f"movie mentions mapped to the catalog: {mapped} of {total}")
    print(format_table(rows))
    print(format_acts(heldout))
    print(f"agent replay {run['agent_seconds']:.1f}s, whole run {elapsed:.1f}s")
    if args.examples > 0:
        print()
        print(format_examples(fails, args.examples))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "config": {"dialogues": str(args.dialogues), "k": args.k, "limit": args.limit,
                       "split": args.split,
                       "artifact": run["artifact"], "code": version},
            "systems": {name: m for name, m in rows},
            "acts_heldout": heldout,
            "mentions": {"mapped": mapped, "total": total},
            "failures": {kind: rows_[: max(args.examples, 0)] for kind, rows_ in fails.items()},
            "failure_counts": {kind: len(rows_) for kind, rows_ in fails.items()},
            "dialogues": {agent_name: [asdict(r) for r in agent_records]},
            "timing": {"agent_seconds": run["agent_seconds"], "total_seconds": elapsed},
        }
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
