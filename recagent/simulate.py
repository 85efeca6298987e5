"""Simulated-user benchmark of whole conversations (issue 7).

A templated simulated user (no LLM) looks for one held-out target item and talks to a
recommender -- the agent in process, the agent over HTTP, or one of two floors -- until the
target shows up in the top ``k`` or the turn budget runs out. Everything is seeded: the same
seed gives the same transcripts and the same JSON (apart from its ``timing`` section).

The pieces, in order of use:

- :func:`prepare_workspace`: the held-out world. For every user the target is the LAST
  positively rated item (rating >= 4; latest timestamp, ties broken by the larger item id).
  A copy of the MovieLens folder without the target ratings is ingested into a separate
  SQLite catalog and a model bundle is trained on it, so neither the tools' user histories
  nor the CF models nor the popularity counts have seen a target. Built once and reused
  (keyed by the data's fingerprint and the seed).
- :func:`build_episodes`: one :class:`Episode` per user: the target's categories, decade,
  tags and the history items most similar to it.
- :class:`SimulatedUser`: opens with one category or the decade; after each miss says so
  and reveals one attribute not given yet; accepts when the target is in the top ``k``.
  It never says the target's title.
- The systems under test (:class:`AgentSystem`, :class:`HttpSystem`) and the floors
  (:class:`CFFloor`, :class:`FilterFloor`), all driven by :func:`run_conversations`.
- :func:`summarize` (the metrics), :func:`format_table`, :func:`run_matrix`.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import math
import random
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from tools.catalog.text import fold_accents, normalize_title

POSITIVE_RATING = 4.0
ACCEPT_K = 5  # the headline cutoff: the user sees 5 items a turn, accepts in the top 5
REPORT_KS = (5, 10)  # cutoffs run, each as SEPARATE conversations showing exactly k items
REPORT_TS = (5, 15)
MAX_TAGS = 3  # tags of the target the user may reveal (the most used ones)
MAX_SIMILAR = 3  # history items similar to the target the user may mention
WORKSPACE_VERSION = "1"  # bump when the held-out world is built differently

AttributeKind = Literal["category", "decade", "tag", "item"]
UtteranceKind = Literal["open", "reveal", "nudge", "accept"]
Variant = Literal["history", "cold"]


class SimulationError(RuntimeError):
    """The simulation cannot run (missing data, unreachable server, bad arguments)."""


# --------------------------------------------------------------------------------------
# the held-out world


@dataclass(frozen=True)
class Target:
    user_id: str
    item_id: str
    ts: int
    rating: float


@dataclass(frozen=True)
class Workspace:
    root: Path
    data_dir: Path  # the MovieLens copy without the targets' ratings
    database_url: str  # its catalog
    model_dir: Path  # models trained on it
    targets: dict[str, Target]  # user_id -> held-out target
    fingerprint: str  # of the source data + seed + workspace version

    def fresh_database(self, path: Path) -> str:
        """A copy of the held-out catalog at ``path`` (its URL) for ONE run to write into.

        The agent keeps durable per-user profiles in the catalog database; a run on the
        pristine copy is what makes a second run with the same seed give the same JSON."""
        import sqlite3

        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{self.root / 'catalog.db'}?mode=ro", uri=True)
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return f"sqlite:///{path}"

    def env(self, database_url: str | None = None) -> dict[str, str]:
        """The settings a server must run with to serve this held-out world."""
        return {
            "RECAGENT_DATABASE_URL": database_url or self.database_url,
            "RECAGENT_MODEL_DIR": str(self.model_dir),
            "RECAGENT_LLM": "rules",
            "RECAGENT_RATE_LIMIT_PER_MINUTE": "0",
        }


def choose_targets(rows: Iterable[tuple[str, str, float, int]]) -> dict[str, Target]:
    """``(user_id, item_id, rating, ts)`` rows -> each user's last positively rated item.

    "Last" is the latest timestamp; ties (MovieLens users often rate many movies in the
    same second) go to the larger item id, compared as a number when both are numeric.
    Users without a rating >= 4 get no target."""
    best: dict[str, Target] = {}
    for user_id, item_id, rating, ts in rows:
        if rating < POSITIVE_RATING:
            continue
        cand = Target(user_id, item_id, ts, rating)
        cur = best.get(user_id)
        if cur is None or (ts, _id_key(item_id)) > (cur.ts, _id_key(cur.item_id)):
            best[user_id] = cand
    return dict(sorted(best.items(), key=lambda kv: _id_key(kv[0])))


def _id_key(value: str) -> tuple[int, int, str]:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def read_ratings(path: Path) -> list[tuple[str, str, float, int]]:
    rows: list[tuple[str, str, float, int]] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().casefold() for h in next(reader)]
        try:
            iu, ii = header.index("userid"), header.index("movieid")
            ir, it = header.index("rating"), header.index("timestamp")
        except ValueError:
            raise SimulationError(
                f"{path}:1: expected the header userId,movieId,rating,timestamp"
            ) from None
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((row[iu].strip(), row[ii].strip(), float(row[ir]), int(row[it])))
            except (ValueError, IndexError):
                raise SimulationError(f"{path}:{line}: unreadable rating row") from None
    return rows


def _data_fingerprint(data_dir: Path, seed: int) -> str:
    """The data, the seed, and the code that ingests and trains: a change to any of them
    builds a new workspace instead of reusing a stale one."""
    return workspace_fingerprint(f"simulate-workspace:{WORKSPACE_VERSION}:{seed}", data_dir)


def workspace_fingerprint(label: str, data_dir: Path) -> str:
    """A digest of ``label``, the ml-latest-small files in ``data_dir`` and the ingest and
    training code: the cache key of a workspace built from them (simulate, replay)."""
    import tools.catalog.ingest
    import tools.recommenders

    digest = hashlib.sha256(label.encode())
    for name in ("movies.csv", "links.csv", "tags.csv", "ratings.csv"):
        path = data_dir / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    code = [Path(tools.catalog.ingest.__file__)]
    code += sorted(Path(tools.recommenders.__path__[0]).glob("*.py"))
    for path in code:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_workspace(data_dir: Path, work_dir: Path, *, seed: int = 42,
                      progress: Callable[[str], None] | None = None) -> Workspace:
    """Build (or reuse) the held-out catalog and models for ``data_dir`` under ``work_dir``.

    ``work_dir/<fingerprint>/`` holds ``data/`` (the MovieLens files minus the targets'
    ratings), ``catalog.db`` and ``models/``. It is built in a temporary folder and renamed
    into place, so an interrupted build leaves nothing half-written behind."""
    data_dir = Path(data_dir)
    ratings_path = data_dir / "ratings.csv"
    if not (data_dir / "movies.csv").is_file() or not ratings_path.is_file():
        raise SimulationError(f"{data_dir}: expected an ml-latest-small folder "
                              "(movies.csv and ratings.csv)")
    say = progress or (lambda _m: None)
    fingerprint = _data_fingerprint(data_dir, seed)
    root = Path(work_dir) / fingerprint
    ratings = read_ratings(ratings_path)
    targets = choose_targets(ratings)
    if not targets:
        raise SimulationError(f"{ratings_path}: no user has a rating >= {POSITIVE_RATING}")
    if not (root / "READY").is_file():
        say(f"building the held-out workspace in {root} (once)")
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_heldout_copy(data_dir, tmp / "data", ratings, targets)
        _ingest_and_train(tmp, seed, say)
        (tmp / "READY").write_text(json.dumps({"targets": len(targets), "seed": seed}))
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return Workspace(
        root=root, data_dir=root / "data",
        database_url=f"sqlite:///{(root / 'catalog.db').resolve()}",
        model_dir=(root / "models").resolve(), targets=targets, fingerprint=fingerprint,
    )


def _write_heldout_copy(src: Path, dst: Path, ratings: Sequence[tuple[str, str, float, int]],
                        targets: dict[str, Target]) -> None:
    dst.mkdir(parents=True)
    for name in ("movies.csv", "links.csv", "tags.csv"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    held = {(t.user_id, t.item_id) for t in targets.values()}
    with open(dst / "ratings.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for user_id, item_id, rating, ts in ratings:
            if (user_id, item_id) not in held:
                writer.writerow([user_id, item_id, f"{rating:g}", ts])


def _ingest_and_train(root: Path, seed: int, say: Callable[[str], None]) -> None:
    from tools.catalog.db import make_engine
    from tools.catalog.ingest import ingest_movielens
    from tools.recommenders.training import train

    engine = make_engine(f"sqlite:///{root / 'catalog.db'}")
    try:
        started = time.perf_counter()
        ingest_movielens(engine, root / "data")
        say(f"  ingested the held-out catalog in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        train(engine, root / "models", seed=seed, evaluate=False)
        say(f"  trained the held-out models in {time.perf_counter() - started:.1f}s")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# the catalog as the simulation sees it, and the episodes


@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    title: str
    year: int | None
    categories: tuple[str, ...]
    tags: tuple[tuple[str, int], ...]  # (name, count), most used first
    popularity: float


@dataclass
class SimCatalog:
    """The held-out catalog in memory: items, users' training histories, item co-ratings."""

    items: dict[str, CatalogItem]
    histories: dict[str, dict[str, float]]  # user_id -> {item_id: rating}
    by_popularity: list[str]  # item ids, most popular first (ties: item id)

    @classmethod
    def load(cls, database_url: str) -> SimCatalog:
        from sqlalchemy import select

        from tools.catalog.db import make_engine
        from tools.catalog.models import Category, Interaction, Item, ItemCategory, ItemTag, Tag

        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                cats: dict[str, list[str]] = {}
                for item_id, name in conn.execute(
                    select(ItemCategory.item_id, Category.name)
                    .join(Category, Category.id == ItemCategory.category_id)
                    .order_by(ItemCategory.item_id, Category.name)
                ):
                    cats.setdefault(item_id, []).append(name)
                tags: dict[str, list[tuple[str, int]]] = {}
                for item_id, name, count in conn.execute(
                    select(ItemTag.item_id, Tag.name, ItemTag.count)
                    .join(Tag, Tag.id == ItemTag.tag_id)
                ):
                    tags.setdefault(item_id, []).append((name, int(count or 1)))
                items: dict[str, CatalogItem] = {}
                for item_id, title, year, pop in conn.execute(
                    select(Item.item_id, Item.title, Item.year, Item.popularity)
                ):
                    item_tags = sorted(tags.get(item_id, []), key=lambda t: (-t[1], t[0]))
                    items[item_id] = CatalogItem(item_id, title, year,
                                                 tuple(cats.get(item_id, [])),
                                                 tuple(item_tags), float(pop or 0.0))
                histories: dict[str, dict[str, float]] = {}
                for user_id, item_id, rating in conn.execute(
                    select(Interaction.user_id, Interaction.item_id, Interaction.rating)
                ):
                    histories.setdefault(user_id, {})[item_id] = (
                        float(rating) if rating is not None else POSITIVE_RATING
                    )
        finally:
            engine.dispose()
        order = sorted(items.values(), key=lambda it: (-it.popularity, _id_key(it.item_id)))
        return cls(items, histories, [it.item_id for it in order])

    def raters(self) -> dict[str, set[str]]:
        """item_id -> the users who rated it (training data)."""
        out: dict[str, set[str]] = {}
        for user_id, hist in self.histories.items():
            for item_id in hist:
                out.setdefault(item_id, set()).add(user_id)
        return out


@dataclass(frozen=True)
class Attribute:
    kind: AttributeKind
    value: str  # category name, decade ("1990s"), tag, or a history item's title
    item_id: str | None = None  # for kind == "item"

    def label(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Episode:
    user_id: str
    target_id: str
    target_title: str
    categories: tuple[str, ...]
    decade: int | None
    tags: tuple[str, ...]  # most used first, at most MAX_TAGS, none that names the title
    similar: tuple[Attribute, ...]  # history items like the target, most similar first
    seen: frozenset[str]  # the user's training history (item ids)


def decade_of(year: int | None) -> int | None:
    return None if year is None else year - year % 10


def build_episodes(catalog: SimCatalog, targets: dict[str, Target]) -> list[Episode]:
    """One episode per user whose target is in the catalog, in user-id order."""
    raters = catalog.raters()
    # a tag that is also a category name ("romance" on a non-Romance movie) would be heard
    # as that category: not a usable attribute
    category_words = {_norm_words(c) for it in catalog.items.values() for c in it.categories}
    episodes = []
    for user_id, target in targets.items():
        item = catalog.items.get(target.item_id)
        if item is None:
            continue
        hist = catalog.histories.get(user_id, {})
        title_norm = normalize_title(item.title)
        tags = tuple(
            name for name, _count in item.tags
            if _norm_words(name) not in category_words and not _overlaps_title(name, title_norm)
        )[:MAX_TAGS]
        episodes.append(Episode(
            user_id=user_id, target_id=item.item_id, target_title=item.title,
            categories=item.categories, decade=decade_of(item.year), tags=tags,
            similar=_similar_history(catalog, raters, item, hist, title_norm),
            seen=frozenset(hist),
        ))
    return episodes


def _similar_history(catalog: SimCatalog, raters: dict[str, set[str]], target: CatalogItem,
                     hist: dict[str, float], title_norm: str) -> tuple[Attribute, ...]:
    """The user's positively rated items most like the target: co-rating cosine (who else
    rated both) plus half the category Jaccard; never one whose title contains the target's
    or is contained in it ("Toy Story" for "Toy Story 2" names it partly)."""
    t_raters = raters.get(target.item_id, set())
    t_cats = set(target.categories)
    scored = []
    for item_id, rating in hist.items():
        if rating < POSITIVE_RATING or item_id == target.item_id:
            continue
        other = catalog.items.get(item_id)
        if other is None or _overlaps_title(other.title, title_norm):
            continue
        o_raters = raters.get(item_id, set())
        cos = (len(t_raters & o_raters) / math.sqrt(len(t_raters) * len(o_raters))
               if t_raters and o_raters else 0.0)
        o_cats = set(other.categories)
        jac = len(t_cats & o_cats) / len(t_cats | o_cats) if t_cats | o_cats else 0.0
        scored.append((cos + 0.5 * jac, _id_key(item_id), other))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return tuple(Attribute("item", o.title, o.item_id) for _s, _k, o in scored[:MAX_SIMILAR])


_WORDS = re.compile(r"[^\w]+")


def _norm_words(text: str) -> str:
    return " ".join(_WORDS.sub(" ", fold_accents(text).casefold().replace("'", "")).split())


def mentions_title(text: str, title: str) -> bool:
    """Does ``text`` contain the title (as whole words, case/accents/punctuation folded)?"""
    norm = normalize_title(title)
    return bool(norm) and f" {norm} " in f" {_norm_words(text)} "


def _overlaps_title(value: str, title_norm: str) -> bool:
    """A value that contains the (normalized) title as whole words, or is contained in it."""
    v = _norm_words(value)
    if not v or not title_norm:
        return False
    return f" {title_norm} " in f" {v} " or f" {v} " in f" {title_norm} "


# --------------------------------------------------------------------------------------
# the simulated user

OPEN_CATEGORY = (
    "I'm looking for a {cat} movie.",
    "Can you recommend some {cat} films?",
    "I'm in the mood for {cat}.",
    "Show me some {cat} movies, please.",
)
OPEN_DECADE = (
    "I'd like a movie from the {dec}.",
    "Something from the {dec}, please.",
    "Recommend me a film made in the {dec}.",
)
REJECT = (
    "No, none of those.",
    "Not quite.",
    "Hmm, that's not what I'm after.",
    "None of these are right.",
    "Not those.",
)
REVEAL = {
    "category": ("It should also be {cat}.", "I'd like it to be {cat} as well.",
                 "Also {cat}, please."),
    "decade": ("It should be from the {dec}.", "Something from the {dec}.",
               "I'd prefer one made in the {dec}."),
    "tag": ("Think {tag}.", "Keyword: {tag}.", "Something with a {tag} vibe."),
    "item": ("I loved {title}, something like that.",
             "Something like {title}, which I really liked.",
             "I enjoyed {title}; more like that please."),
}
NUDGE = (
    "Still not it. Anything else?",
    "None of those either. Show me other options.",
    "Not yet. What else do you have?",
)
ACCEPT = (
    "Yes, that's the one I was looking for!",
    "Great, I'll watch that one.",
    "Perfect, that's exactly it.",
)
NEUTRAL = "Not those. Anything else?"  # if every nudge would name the title


@dataclass(frozen=True)
class Phrasings:
    """What the simulated user says, as templates (``{cat}``, ``{dec}``, ``{tag}``,
    ``{title}``). The default set is above; ``--phrasings FILE`` loads another (JSON with the
    same keys, lower-case: open_category, open_decade, reject, reveal, nudge, accept), so the
    agent can be measured on sentences it was never developed against."""

    open_category: tuple[str, ...] = OPEN_CATEGORY
    open_decade: tuple[str, ...] = OPEN_DECADE
    reject: tuple[str, ...] = REJECT
    reveal: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(REVEAL))
    nudge: tuple[str, ...] = NUDGE
    accept: tuple[str, ...] = ACCEPT

    @classmethod
    def load(cls, path: Path) -> Phrasings:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SimulationError(f"{path}: not readable JSON: {exc}") from None
        base = cls()
        try:
            reveal = {k: tuple(v) for k, v in (data.get("reveal") or base.reveal).items()}
            out = cls(
                open_category=tuple(data.get("open_category") or base.open_category),
                open_decade=tuple(data.get("open_decade") or base.open_decade),
                reject=tuple(data.get("reject") or base.reject), reveal=reveal,
                nudge=tuple(data.get("nudge") or base.nudge),
                accept=tuple(data.get("accept") or base.accept),
            )
        except (AttributeError, TypeError) as exc:
            raise SimulationError(f"{path}: phrasings must be lists of strings: {exc}") from None
        missing = [k for k in REVEAL if not out.reveal.get(k)]
        if missing:
            raise SimulationError(f"{path}: reveal needs templates for {', '.join(missing)}")
        return out


DEFAULT_PHRASINGS = Phrasings()


@dataclass(frozen=True)
class Utterance:
    kind: UtteranceKind
    text: str
    revealed: Attribute | None = None


def decade_phrases(decade: int) -> tuple[str, ...]:
    """1990 -> ("90s", "1990s"); 2000 -> ("2000s",): short forms only where unambiguous."""
    if 1930 <= decade <= 1990:
        return (f"{decade % 100:02d}s", f"{decade}s")
    return (f"{decade}s",)


class SimulatedUser:
    """Looks for ``episode.target_id`` without ever naming it.

    The opening reveals one category or the decade (seeded choice). Every turn whose
    recommendations miss the top ``k`` says so and reveals one attribute not given yet:
    another category, the decade, one of the target's tags, or (with history) an item from
    the user's history similar to the target. The kind of the next attribute is a seeded
    choice among the kinds that still have one; within a kind the most informative comes
    first. Out of attributes, the user just asks for something else."""

    def __init__(self, episode: Episode, *, seed: int, cold_start: bool = False,
                 k: int = ACCEPT_K, restate: bool = False,
                 phrasings: Phrasings = DEFAULT_PHRASINGS) -> None:
        self.say = phrasings
        self.episode = episode
        self.k = k
        self.restate = restate  # diagnostic: every miss restates ALL revealed attributes
        self.rng = random.Random(f"{seed}:{episode.user_id}:{episode.target_id}")
        pools: dict[AttributeKind, list[Attribute]] = {
            "category": [Attribute("category", c.casefold()) for c in episode.categories],
            "decade": ([Attribute("decade", f"{episode.decade}s")]
                       if episode.decade is not None else []),
            "tag": [Attribute("tag", t) for t in episode.tags],
            "item": [] if cold_start else list(episode.similar),
        }
        self.rng.shuffle(pools["category"])
        title_norm = normalize_title(episode.target_title)
        self._pools = {  # nothing that names the target, not even partly
            kind: [a for a in pool if not _overlaps_title(a.value, title_norm)]
            for kind, pool in pools.items()
        }
        self.revealed: list[Attribute] = []
        self.done = False

    # -- what the user says

    def opening(self) -> Utterance:
        openers = self._pools["category"][:1] + self._pools["decade"]
        if not openers:  # no category, no year: open with whatever there is
            openers = self._pools["tag"][:1] + self._pools["item"][:1]
        self.rng.shuffle(openers)
        for attr in openers:
            templates = {"category": self.say.open_category,
                         "decade": self.say.open_decade}.get(attr.kind, self.say.reveal[attr.kind])
            text = self._say(templates, attr)
            if text is not None:
                self._take(attr)
                return Utterance("open", text, attr)
        return Utterance("open", "Recommend me a good movie.")

    def react(self, recommended: Sequence[str]) -> Utterance:
        """The answer to one turn's recommendations (ids in rank order)."""
        if self.done:
            raise SimulationError("the conversation is over")
        if self.episode.target_id in list(recommended)[: self.k]:
            self.done = True
            return Utterance("accept", self._pick(self.say.accept, "Yes."))
        reject = self._pick(self.say.reject, "No.")
        for _ in range(sum(len(p) for p in self._pools.values())):  # bounded
            kinds = [kind for kind, pool in self._pools.items() if pool]
            if not kinds:
                break
            attr = self._pools[self.rng.choice(kinds)][0]
            said = self._say(self.say.reveal[attr.kind], attr)
            if said is None:  # every phrasing would name the target: drop it
                self._pools[attr.kind].remove(attr)
                continue
            self._take(attr)
            return Utterance("reveal", f"{reject} {self._restated() or said}", attr)
        nudge = self._pick(self.say.nudge, NEUTRAL)
        summary = self._restated()
        return Utterance("nudge", f"{reject} {summary}" if summary else nudge)

    def _pick(self, phrasings: Sequence[str], fallback: str) -> str:
        """A seeded choice among the phrasings that do not name the target."""
        ok = [p for p in phrasings if not mentions_title(p, self.episode.target_title)]
        return self.rng.choice(ok) if ok else fallback

    def _restated(self) -> str | None:
        """With ``restate``: one sentence with everything revealed so far (None: off, or
        it would name the target)."""
        if not self.restate or not self.revealed:
            return None
        by_kind: dict[str, list[str]] = {}
        for a in self.revealed:
            by_kind.setdefault(a.kind, []).append(a.value)
        cats = by_kind.get("category", [])
        text = "To sum up: I want " + (" and ".join(cats) + " movies" if cats else "a movie")
        for value in by_kind.get("decade", [])[:1]:
            text += f" from the {decade_phrases(int(value[:-1]))[-1]}"
        if by_kind.get("item"):
            text += ", something like " + " and ".join(by_kind["item"])
        text += "."
        if by_kind.get("tag"):
            text += " Think " + ", ".join(by_kind["tag"]) + "."
        return None if mentions_title(text, self.episode.target_title) else text

    @property
    def remaining(self) -> int:
        """Attributes not revealed yet."""
        return sum(len(p) for p in self._pools.values())

    # -- helpers

    def _take(self, attr: Attribute) -> None:
        self._pools[attr.kind].remove(attr)
        self.revealed.append(attr)

    def _say(self, templates: Sequence[str], attr: Attribute) -> str | None:
        """A seeded phrasing of ``attr`` that does not name the target (None: none does)."""
        fills: list[dict[str, str]]
        if attr.kind == "decade":
            fills = [{"dec": d} for d in decade_phrases(int(attr.value[:-1]))]
        elif attr.kind == "category":
            fills = [{"cat": attr.value}]
        elif attr.kind == "tag":
            fills = [{"tag": attr.value}]
        else:
            fills = [{"title": attr.value}]
        options = [t.format(**f) for t in templates for f in fills]
        pick = self.rng.choice(options)
        if not mentions_title(pick, self.episode.target_title):
            return pick
        safe = [o for o in options if not mentions_title(o, self.episode.target_title)]
        return safe[0] if safe else None


# --------------------------------------------------------------------------------------
# the systems under test


@dataclass
class SystemReply:
    item_ids: list[str]
    reply: str = ""
    llm_calls: int | None = None  # None: not an LLM system
    tool_calls: int | None = None
    tools: list[str] = field(default_factory=list)  # the tool calls of the plan that answered


class System(Protocol):
    name: str

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        """A fresh conversation for ``episode`` (anonymous when ``cold_start``)."""

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply: ...

    async def aclose(self) -> None: ...


def trace_tools(trace: dict[str, Any]) -> list[str]:
    """"name(args)" of each tool the final plan attempt ran (what answered the turn)."""
    attempts = trace.get("attempts") or []
    if not attempts:
        return []
    out = []
    for call in attempts[-1].get("calls") or []:
        args = json.dumps(call.get("args") or {}, sort_keys=True, separators=(",", ":"))
        out.append(f"{call.get('name')}({args[1:-1]})")
    return out


def trace_counts(trace: dict[str, Any]) -> tuple[int, int]:
    """(LLM calls, tool calls) of one turn's trace (``agent.trace.TurnTrace.to_dict``)."""
    llm = trace.get("llm")
    if isinstance(llm, dict) and isinstance(llm.get("calls"), int):
        llm_calls = int(llm["calls"])
    else:
        llm_calls = len(trace.get("llm_calls") or [])
    tool_calls = sum(len(a.get("tools") or []) for a in trace.get("attempts") or [])
    return llm_calls, tool_calls


class AgentSystem:
    """The agent in process: ``build_runtime(settings)`` and ``runtime.agent.turn``, on a
    fresh copy of the held-out catalog (removed again by :meth:`aclose`)."""

    name = "agent"

    def __init__(self, agent: Any, closer: Callable[[], Any] | None = None,
                 scratch: Path | None = None) -> None:
        self._agent = agent
        self._closer = closer
        self._scratch = scratch
        self._session_id: str | None = None
        self._user_id: str | None = None

    @classmethod
    async def build(cls, workspace: Workspace, *, seed: int) -> AgentSystem:
        import tempfile

        from recagent.runtime import build_runtime
        from recagent.settings import load_settings

        scratch = Path(tempfile.mkdtemp(prefix="recagent-sim-"))
        try:
            url = await asyncio.to_thread(workspace.fresh_database, scratch / "catalog.db")
            settings = load_settings(
                database_url=url, model_dir=workspace.model_dir, redis_url=None, llm="rules",
                seed=seed, learn_demonstrations=False,
            )
            runtime = await build_runtime(settings)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return cls(runtime.agent, runtime.aclose, scratch)

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        self._session_id = None
        self._user_id = None if cold_start else episode.user_id

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        result = await self._agent.turn(utterance.text, session_id=self._session_id,
                                        user_id=self._user_id, limit=user.k)
        self._session_id = result.session_id
        llm_calls, tool_calls = trace_counts(result.trace or {})
        return SystemReply([r.item_id for r in result.recommendations], result.reply,
                           llm_calls, tool_calls, trace_tools(result.trace or {}))

    async def aclose(self) -> None:
        try:
            if self._closer is not None:
                await self._closer()
                self._closer = None
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None


class HttpSystem:
    """The agent over HTTP: ``POST {url}/v1/chat`` with httpx."""

    name = "agent"

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)
        self._session_id: str | None = None
        self._user_id: str | None = None

    async def check(self, workspace: Workspace | None = None) -> None:
        """The server answers, and (given ``workspace``) serves its held-out models: a
        server on the full data has seen every target and would make the numbers lie."""
        import httpx

        from tools.recommenders.artifacts import latest_artifact

        try:
            resp = await self._client.get("/readyz")
        except httpx.HTTPError as exc:
            raise SimulationError(f"cannot reach {self.url}: {exc}") from None
        if resp.status_code != 200:
            raise SimulationError(f"{self.url}/readyz answered {resp.status_code}: "
                                  f"{resp.text[:300]}")
        if workspace is None:
            return
        artifact = latest_artifact(workspace.model_dir)
        if artifact is None or artifact.name not in resp.text:
            raise SimulationError(
                f"{self.url} does not serve the held-out models "
                f"({artifact.name if artifact else workspace.model_dir}); start it with the "
                "env printed by `recagent simulate --prepare`")

    async def start(self, episode: Episode, *, cold_start: bool) -> None:
        self._session_id = None
        self._user_id = None if cold_start else episode.user_id

    async def turn(self, utterance: Utterance, user: SimulatedUser) -> SystemReply:
        body: dict[str, Any] = {"message": utterance.text, "limit": user.k}
        if self._session_id is not None:
            body["session_id"] = self._session_id
        if self._user_id is not None:
            body["user_id"] = self._user_id
        resp = await self._client.post("/v1/chat", json=body)
        if resp.status_code != 200:
            raise SimulationError(f"POST {self.url}/v1/chat answered {resp.status_code}: "
                                  f"{resp.text[:300]}")
        data = resp.json()
        self._session_id = data["session_id"]
        trace = data.get("trace") or {}
        llm_calls, tool_calls = trace_counts(trace)
        return SystemReply([str(r["item_id"]) for r in data.get("recommendations", [])],
                           str(data.get("reply", "")), llm_calls, tool_calls, trace_tools(trace))

    async def aclose(self) -> None:
        await self._client.aclose()


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
        from tools.recommenders.artifacts import load_bundle

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


# --------------------------------------------------------------------------------------
# running conversations


@dataclass
class TurnRecord:
    turn: int
    user: str  # what the simulated user said
    revealed: str | None  # "kind:value" it revealed with it
    items: list[str]  # recommended ids, in rank order
    rank: int | None  # the target's 1-based rank in ``items``
    repeats: int  # items already recommended earlier in this conversation
    reply: str
    llm_calls: int | None
    tool_calls: int | None
    tools: list[str] = field(default_factory=list)


@dataclass
class EpisodeResult:
    user_id: str
    target_id: str
    turns: list[TurnRecord]
    final: str  # the user's last words (acceptance or the last miss)
    latencies_s: list[float] = field(default_factory=list)  # NOT part of the deterministic JSON

    def first_hit(self, k: int) -> int | None:
        for t in self.turns:
            if t.rank is not None and t.rank <= k:
                return t.turn
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_s")
        return data


async def run_episode(system: System, episode: Episode, *, seed: int, cold_start: bool,
                      max_turns: int, restate: bool = False, k: int = ACCEPT_K,
                      phrasings: Phrasings = DEFAULT_PHRASINGS) -> EpisodeResult:
    """One conversation with a user who is shown ``k`` items a turn and accepts when the
    target is among them."""
    user = SimulatedUser(episode, seed=seed, cold_start=cold_start, restate=restate, k=k,
                         phrasings=phrasings)
    await system.start(episode, cold_start=cold_start)
    utterance = user.opening()
    shown: set[str] = set()
    turns: list[TurnRecord] = []
    latencies: list[float] = []
    for turn in range(1, max_turns + 1):
        started = time.perf_counter()
        reply = await system.turn(utterance, user)
        latencies.append(time.perf_counter() - started)
        items = reply.item_ids
        rank = items.index(episode.target_id) + 1 if episode.target_id in items else None
        repeats = sum(1 for i in items if i in shown)
        shown.update(items)
        turns.append(TurnRecord(
            turn=turn, user=utterance.text,
            revealed=utterance.revealed.label() if utterance.revealed else None,
            items=list(items), rank=rank, repeats=repeats, reply=reply.reply[:300],
            llm_calls=reply.llm_calls, tool_calls=reply.tool_calls, tools=reply.tools,
        ))
        utterance = user.react(items)
        if utterance.kind == "accept":
            break
    return EpisodeResult(episode.user_id, episode.target_id, turns, utterance.text, latencies)


@dataclass
class RunResult:
    system: str
    variant: Variant
    episodes: list[EpisodeResult]
    max_turns: int
    seconds: float = 0.0
    k: int = ACCEPT_K  # the user saw k items a turn and accepted in the top k

    def metrics(self) -> dict[str, Any]:
        return summarize(self.episodes, self.max_turns, ks=(self.k,))

    def timing(self) -> dict[str, float]:
        lat = sorted(x for e in self.episodes for x in e.latencies_s)
        return {
            "turns": len(lat),
            "p50_ms": round(_percentile(lat, 50) * 1e3, 2),
            "p99_ms": round(_percentile(lat, 99) * 1e3, 2),
            "mean_ms": round(statistics.fmean(lat) * 1e3, 2) if lat else 0.0,
            "seconds": round(self.seconds, 1),
        }


async def run_conversations(system: System, episodes: Sequence[Episode], *, seed: int,
                            cold_start: bool, max_turns: int, restate: bool = False,
                            k: int = ACCEPT_K,
                            progress: Callable[[int, int], None] | None = None,
                            phrasings: Phrasings = DEFAULT_PHRASINGS) -> RunResult:
    """Every episode, one after the other (sequential: deterministic and gentle on CPUs),
    each user shown ``k`` items a turn."""
    started = time.perf_counter()
    results = []
    for i, episode in enumerate(episodes):
        results.append(await run_episode(system, episode, seed=seed, cold_start=cold_start,
                                         max_turns=max_turns, restate=restate, k=k,
                                         phrasings=phrasings))
        if progress is not None:
            progress(i + 1, len(episodes))
    name = system.name + (" (restating user)" if restate else "")
    return RunResult(name, "cold" if cold_start else "history", results, max_turns,
                     time.perf_counter() - started, k)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def hdcg(episode: EpisodeResult, *, k: int, max_turns: int) -> float:
    """1 / log2(1 + turn) * 1 / log2(1 + rank) of the first turn (<= ``max_turns``) whose
    top ``k`` holds the target; 0 if none. 1.0 = found at rank 1 in the first turn."""
    turn = episode.first_hit(k)
    if turn is None or turn > max_turns:
        return 0.0
    rank = episode.turns[turn - 1].rank
    assert rank is not None
    return 1.0 / math.log2(1 + turn) / math.log2(1 + rank)


def summarize(episodes: Sequence[EpisodeResult], max_turns: int,
              ks: Sequence[int] = REPORT_KS) -> dict[str, Any]:
    """The deterministic metrics of one run at the cutoffs ``ks`` (a run's own cutoff: the
    user saw that many items; see ``docs/simulate.md`` for definitions)."""
    n = len(episodes)
    out: dict[str, Any] = {"users": n}
    if n == 0:
        return out
    for k in ks:
        hits = [e.first_hit(k) for e in episodes]
        for t in REPORT_TS:
            if t <= max_turns:
                out[f"success@{t}_k{k}"] = round(sum(1 for h in hits if h and h <= t) / n, 4)
        out[f"avg_turns_k{k}"] = round(
            statistics.fmean(h if h is not None else max_turns for h in hits), 3)
        out[f"hdcg_k{k}"] = round(
            statistics.fmean(hdcg(e, k=k, max_turns=max_turns) for e in episodes), 4)
        ranks = [e.turns[h - 1].rank for e in episodes if (h := e.first_hit(k))]
        out[f"rank_at_hit_k{k}"] = (
            round(statistics.fmean(r for r in ranks if r), 3) if ranks else None)
    turns = [t for e in episodes for t in e.turns]
    out["turns_total"] = len(turns)
    out["repeated_items_per_turn"] = round(sum(t.repeats for t in turns) / len(turns), 4)
    out["conversations_with_repeats"] = round(
        sum(1 for e in episodes if any(t.repeats for t in e.turns)) / n, 4)
    out["empty_turns"] = sum(1 for t in turns if not t.items)
    llm = [t.llm_calls for t in turns if t.llm_calls is not None]
    tools = [t.tool_calls for t in turns if t.tool_calls is not None]
    out["llm_calls_per_turn"] = round(statistics.fmean(llm), 3) if llm else None
    out["tool_calls_per_turn"] = round(statistics.fmean(tools), 3) if tools else None
    return out


# --------------------------------------------------------------------------------------
# the matrix, the table, the JSON


def sample_episodes(episodes: Sequence[Episode], users: int | None, *,
                    seed: int) -> list[Episode]:
    """All episodes (``users`` None) or a seeded sample of ``users`` of them, in user order."""
    if users is None or users >= len(episodes):
        return list(episodes)
    if users < 1:
        raise SimulationError("--users must be at least 1")
    picked = random.Random(f"sample:{seed}").sample(range(len(episodes)), users)
    return [episodes[i] for i in sorted(picked)]


SystemName = Literal["agent", "cf-floor", "filter-floor"]


async def run_matrix(
    workspace: Workspace,
    episodes: Sequence[Episode],
    catalog: SimCatalog,
    *,
    seed: int,
    max_turns: int,
    systems: Sequence[SystemName] = ("agent", "cf-floor", "filter-floor"),
    variants: Sequence[Variant] = ("history", "cold"),
    ks: Sequence[int] = REPORT_KS,
    url: str | None = None,
    restate: bool = False,
    progress: Callable[[str], None] | None = None,
    phrasings: Phrasings = DEFAULT_PHRASINGS,
) -> list[RunResult]:
    """Run every (system, variant, k), k = the items shown per turn and the acceptance
    cutoff; the agent in process, or over HTTP when ``url``.
    ``restate``: the simulated user restates everything it revealed in every message (a
    diagnostic of the agent's multi-turn memory)."""
    say = progress or (lambda _m: None)
    runs: list[RunResult] = []
    for name in systems:
        system: Any
        if name == "agent":
            if url is not None:
                system = HttpSystem(url)
                try:
                    await system.check(workspace)
                except BaseException:
                    await system.aclose()
                    raise
            else:
                system = await AgentSystem.build(workspace, seed=seed)
        elif name == "cf-floor":
            system = CFFloor.build(workspace, catalog, max_turns=max_turns)
        elif name == "filter-floor":
            system = FilterFloor(catalog)
        else:
            raise SimulationError(f"unknown system {name!r}")
        try:
            for variant in variants:
                for k in ks:
                    say(f"{name} / {variant} / k={k}: {len(episodes)} conversations")
                    step = max(1, len(episodes) // 10)

                    def tick(done: int, total: int, _n: str = name, _v: str = variant,
                             _s: int = step, _k: int = k) -> None:
                        if done % _s == 0 or done == total:
                            say(f"  {_n}/{_v}/k={_k}: {done}/{total}")

                    runs.append(await run_conversations(
                        system, episodes, seed=seed, cold_start=variant == "cold",
                        max_turns=max_turns, restate=restate, k=k, progress=tick,
                        phrasings=phrasings,
                    ))
        finally:
            await system.aclose()
    return runs


def report_json(runs: Sequence[RunResult], *, config: dict[str, Any],
                transcripts: bool = True) -> dict[str, Any]:
    """The JSON report. Everything but ``timing`` is the same for the same seed."""
    return {
        "config": config,
        "runs": [
            {
                "system": r.system, "variant": r.variant, "k": r.k, "metrics": r.metrics(),
                **({"episodes": [e.to_json() for e in r.episodes]} if transcripts else {}),
            }
            for r in runs
        ],
        "timing": {f"{r.system}/{r.variant}/k{r.k}": r.timing() for r in runs},
    }


def deterministic_part(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "timing"}


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "-"
    if pct:
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_table(runs: Sequence[RunResult]) -> str:
    """A Markdown table: one row per (system, variant). The S@T k=K columns come from that
    cutoff's own conversations; the other columns from the k=5 conversations (or the first
    cutoff run, named in the header)."""
    if not runs:
        return "(no runs)"
    max_turns = runs[0].max_turns
    ts = [t for t in REPORT_TS if t <= max_turns]
    ks = sorted({r.k for r in runs})
    main_k = ACCEPT_K if ACCEPT_K in ks else ks[0]
    head = ["system", "variant", "users"]
    for k in ks:
        head += [f"S@{t} k={k}" for t in ts]
    head += [f"avg turns k={main_k} (T={max_turns})", f"hDCG k={main_k}", "rank@hit",
             "repeats/turn", "LLM calls/turn", "tool calls/turn", "turn p50 ms", "turn p99 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: dict[tuple[str, str], dict[int, RunResult]] = {}
    for r in runs:
        rows.setdefault((r.system, r.variant), {})[r.k] = r
    for (system, variant), by_k in rows.items():
        main = by_k.get(main_k) or next(iter(by_k.values()))
        m, tm = main.metrics(), main.timing()
        row = [system, variant, str(m["users"])]
        for k in ks:
            mk = by_k[k].metrics() if k in by_k else {}
            row += [_fmt(mk.get(f"success@{t}_k{k}"), pct=True) for t in ts]
        row += [_fmt(m.get(f"avg_turns_k{main.k}")), _fmt(m.get(f"hdcg_k{main.k}"), pct=True),
                _fmt(m.get(f"rank_at_hit_k{main.k}")),
                _fmt(m.get("repeated_items_per_turn"), pct=True),
                _fmt(m.get("llm_calls_per_turn")), _fmt(m.get("tool_calls_per_turn")),
                f"{tm['p50_ms']:.1f}", f"{tm['p99_ms']:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
