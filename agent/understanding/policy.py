"""Policy: from the read conversation to what the turn does, as the tool calls an LLM
would send (or a short reply and no calls).

- a greeting, thanks or goodbye that asks for nothing: a short friendly reply, no list;
- a question about an item (the act model's INQ, or an item mentioned as what the message
  is "about") that points at one: ``item_info``, or ``explain`` when it asks for a reason
  ("why", "how come": :mod:`agent.understanding.questions`);
- everything else asks for items and gets them: hard conditions (categories, period) through
  ``filter_items``, soft ones ordering the set (liked titles through ``similar_items``,
  catalog tags and content words through ``search_text``), the user's taste otherwise
  (``rank_for_user``); likes, dislikes and already-seen titles through ``update_profile``.
  A vague request gets personal or popular picks plus one short question.
- an explicit count ("two comedies") bounds how many items the ordering keeps (the turn's
  ``count`` stays the upper bound; not yet for a known user, see :func:`decide`); a
  bounded quantity the filter tool has a parameter for ("rated 4 or better":
  ``min_rating``) is one more hard condition;
- hard conditions no catalog item meets together are relaxed before planning, least
  important first; after a critique of an empty result or a broken hard condition
  (re-plan), one more criterion per critique; the reply says which. A short result is kept
  as it is: what the user asked for is never dropped just because few items meet it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.understanding.reader import Reading
from agent.understanding.state import Request

Call = tuple[str, dict[str, Any]]
# filter_items' arguments -> can an item of the catalog meet them (None: cannot tell)
CanMatch = Callable[[dict[str, Any]], "bool | None"]
OPEN_TEXT_MATCHES = 100


@dataclass
class Words:
    """The catalog's words for what it holds and what one does with it (settings:
    ``RECAGENT_ITEM_NOUN``, ``RECAGENT_ITEM_NOUN_PLURAL``, ``RECAGENT_ITEM_VERB``)."""

    noun: str = "item"
    plural: str = "items"
    verb: str = "try"


@dataclass
class Plan:
    calls: list[Call] = field(default_factory=list)
    text: str = ""  # the reply when there are no calls; a note shown with the list otherwise


def social_reply(shown_before: bool, words: Words) -> str:
    if shown_before:
        return (f"Glad I could help! Come back any time you want more {words.plural} — "
                "just tell me what you feel like.")
    return (f"Hi! I can help you find {words.plural}. What would you like — a kind "
            f"of {words.noun}, a period, or a title you enjoyed?")


def vague_question(words: Words) -> str:
    return (f"To narrow it down: is there a kind of {words.noun}, a period or a {words.noun} "
            "you liked that I should go by?")


def _ref_ids(refs: Sequence[int], last: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for n in refs:
        k = len(last) - 1 if n == -1 else n - 1
        if 0 <= k < len(last):
            out.append(str(last[k].get("id")))
    return list(dict.fromkeys(out))


def relaxations(req: Request, bounds: Mapping[str, float] | None = None
                ) -> list[tuple[str, str]]:
    """What can be dropped, least important first: (kind, label)."""
    out: list[tuple[str, str]] = []
    for w in req.words:
        out.append(("text", w))
    for t in req.tags:
        out.append(("tag", t))
    if len(req.wanted) > 1:
        out.extend(("category", c) for c in req.wanted[:-1])
    out.extend(("bound", _bound_label(name, value)) for name, value in (bounds or {}).items())
    if req.year_min is not None or req.year_max is not None:
        out.append(("years", _period(req.year_min, req.year_max)))
    if req.wanted:
        out.append(("category", req.wanted[-1]))
    return out


def _bound_label(name: str, value: float) -> str:
    """``min_rating`` 4.0 -> "min rating 4"."""
    return f"{name.replace('_', ' ')} {value:g}"


def _period(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return str(lo) if lo == hi else f"{lo}-{hi}"
    if lo is not None:
        return f"from {lo}"
    return f"up to {hi}"


def decide(current: Reading, req: Request, context: dict[str, Any], tools: set[str],
           words: Words, relax: int = 0, can_match: CanMatch | None = None,
           bounds: Mapping[str, float] | None = None, hard_first: bool = False) -> Plan:
    """The plan of the turn: a social reply, an answer about items, or a request for items
    (only calls to ``tools`` are kept). ``bounds``: the request's quantities as the filter
    tool's arguments (``{"min_rating": 4.0}``); ``hard_first``: the hard conditions could
    not be met together (a filter matched nothing), so relaxing starts with them."""
    last = context.get("last_recommendations") or []
    if current.social:
        # after the user has asked for something (a list, or an answer about an item), a
        # social message closes the conversation rather than opening it
        under_way = bool(last) or bool(context.get("shown_count")) or req.turns > 0
        return Plan(text=social_reply(under_way, words))
    answer = _available(_question_calls(current, last, tools), tools)
    if answer:
        return Plan(calls=answer)
    count = context.get("count")
    limit = min(req.count, count) if req.count and isinstance(count, int) else req.count
    return _request_plan(req, last, tools, words, relax, can_match,
                         _Extra(dict(bounds or {}), limit, hard_first))


def _available(calls: list[Call], tools: set[str]) -> list[Call]:
    return [call for call in calls if call[0] in tools]


def _question_calls(current: Reading, last: Sequence[dict[str, Any]], tools: set[str]
                    ) -> list[Call]:
    """A question about items: "why" about the list (``explain``), or about an item it points
    at (``item_info``, or ``explain`` for a "why"); no calls when it is not one."""
    g = current.grounding
    if g.why and last and (g.refs or not current.has_content):
        ids = _ref_ids(g.refs or [1], last)
        if ids and "explain" in tools:
            return [("explain", {"item_ids": ids[:5]})]
    asks = current.inquiry or g.about  # the act model's INQ, or "about" an item mentioned
    if not (asks and (g.refs or g.of("title") or (last and not current.has_content))):
        return []
    titles = g.of("title")
    ids = _ref_ids(g.refs or ([1] if not titles else []), last)
    names = [m.value for m in titles if m.item_id is None]
    ids += [m.item_id for m in titles if m.item_id is not None]
    calls: list[Call] = []
    if names:
        calls.append(("lookup_items", {"names": names[:10]}))
    target = list(dict.fromkeys(ids + names))[:10]
    if target:
        if g.why and "explain" in tools:
            calls.append(("explain", {"item_ids": target[:5]}))
        else:
            calls.append(("item_info", {"item_ids": target}))
    return calls


@dataclass
class _Extra:
    """What the request plan takes beyond the request: the bounds as filter arguments and
    how many items to keep (None: the turn's default)."""

    bounds: dict[str, float] = field(default_factory=dict)
    limit: int | None = None
    hard_first: bool = False


def _dropped(req: Request, relax: int, can_match: CanMatch | None,
             bounds: Mapping[str, float], hard_first: bool = False) -> list[tuple[str, str]]:
    """The criteria left out: the ``relax`` least important ones (the hard ones first when
    ``hard_first``: dropping a word cannot help a filter that matched nothing), and then,
    while the catalog has no item meeting the hard conditions (``can_match``), the least
    important hard ones (categories, period) too, so the plan does not ask for the
    impossible."""
    options = relaxations(req, bounds)
    if hard_first:
        hard = [o for o in options if o[0] in ("category", "bound", "years")]
        options = hard + [o for o in options if o not in hard]
    dropped = options[:relax]
    if can_match is None:
        return dropped
    hard = [o for o in options[relax:] if o[0] in ("category", "years")]
    for option in [None, *hard]:
        if option is not None:
            dropped.append(option)
        filt = _filter_args(req, dropped, bounds)
        if not filt or can_match(filt) is not False:
            break
    return dropped


def _request_plan(req: Request, last: Sequence[dict[str, Any]], tools: set[str],
                  words: Words, relax: int, can_match: CanMatch | None = None,
                  extra: _Extra | None = None) -> Plan:
    """A request for items: remember the stated taste, narrow by the hard conditions, order
    by the soft ones, keep as many as asked for; with ``relax``, the least important
    criteria are left out (and the hard ones no catalog item meets together, when
    ``can_match`` can tell)."""
    extra = extra or _Extra()
    calls: list[Call] = []
    if req.lookups:
        calls.append(("lookup_items", {"names": req.lookups[:10]}))
    profile = _profile_update(req, last)
    if profile:
        calls.append(("update_profile", profile))
    dropped = _dropped(req, relax, can_match, extra.bounds, extra.hard_first)
    filt = _filter_args(req, dropped, extra.bounds)
    if filt:
        calls.append(("filter_items", filt))
    seeds = list(dict.fromkeys(_ref_ids(req.refs, last) + _ref_ids(req.liked_refs, last)
                               + req.seeds))
    disliked = profile.get("dislike", [])
    seeds = [s for s in seeds if s not in disliked][-20:]
    ordering = _ordering_calls(req, seeds, _query(req, dropped), filtered=bool(filt))
    if extra.limit:  # the last call orders what is left: it keeps as many as asked for
        name, args = ordering[-1]
        ordering[-1] = (name, {**args, "limit": extra.limit})
    calls += ordering
    notes = []
    if dropped:
        notes.append("Nothing matched everything, so I left out "
                     + ", ".join(f'"{label}"' for _, label in dropped) + ".")
    if not req.has_conditions and not profile and not extra.bounds:
        notes.append(vague_question(words))
    return Plan(calls=_available(calls, tools), text=" ".join(notes))


def _profile_update(req: Request, last: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``update_profile``'s arguments: titles liked, disliked and seen (none: empty)."""
    liked = list(dict.fromkeys(_ref_ids(req.liked_refs, last) + req.liked))[:20]
    disliked = list(dict.fromkeys(_ref_ids(req.disliked_refs, last) + req.disliked))[:20]
    seen = [s for s in req.seen if s not in liked and s not in disliked][:20]
    profile: dict[str, Any] = {}
    if liked:
        profile["like"] = liked
    if disliked:
        profile["dislike"] = disliked
    if seen:
        profile["seen"] = seen
    return profile


def _filter_args(req: Request, dropped: Sequence[tuple[str, str]],
                 bounds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """``filter_items``'s arguments: the hard conditions not ``dropped`` (none: empty)."""
    drop_cats = {label for kind, label in dropped if kind == "category"}
    drop_years = any(kind == "years" for kind, _ in dropped)
    filt: dict[str, Any] = {}
    wanted = [c for c in req.wanted if c not in drop_cats]
    if wanted:
        filt["categories_all"] = wanted
    if req.any_of:
        filt["categories_any"] = req.any_of
    if req.avoided:
        filt["categories_none"] = req.avoided
    if not drop_years:
        if req.year_min is not None:
            filt["year_min"] = req.year_min
        if req.year_max is not None:
            filt["year_max"] = req.year_max
    for name, value in (bounds or {}).items():
        if ("bound", _bound_label(name, value)) not in dropped:
            filt[name] = value
    return filt


def _query(req: Request, dropped: Sequence[tuple[str, str]]) -> str:
    """The soft conditions as one text query: catalog tags and content words not dropped.
    Catalog tags order the set rather than filter it: on real dialogues a tag as a hard
    condition cut the accepted item more often than it found it (docs/understanding.md)."""
    drop_text = {label for kind, label in dropped if kind == "text"}
    tags = [t for t in req.tags if ("tag", t) not in dropped]
    return " ".join(w for w in dict.fromkeys(tags + req.words) if w not in drop_text)


def _ordering_calls(req: Request, seeds: list[str], query: str, *, filtered: bool
                    ) -> list[Call]:
    """The calls that order the candidates: neighbours of the seeds (or of the titles looked
    up), the text query, else the user's taste; then what the user softly avoids."""
    calls: list[Call] = []
    soft = False
    if seeds:
        calls.append(("similar_items", {"item_ids": seeds}))
        soft = True
    elif req.lookups:
        calls.append(("similar_items", {}))  # the items lookup_items finds
        soft = True
    if query and not soft and not filtered:
        # words alone on the whole catalog: the matches, ordered by the user's taste (or
        # popularity) rather than by how often the word occurs in their text
        calls.append(("search_text", {"query": query[:500], "limit": OPEN_TEXT_MATCHES}))
    elif query:
        calls.append(("search_text", {"query": query[:500]}))
        soft = True
    if not soft:
        calls.append(("rank_for_user", {}))
    if req.soft_avoid:
        calls.append(("search_text", {"avoid": " ".join(req.soft_avoid)[:500]}))
    return calls
