"""The cards of a turn: each recommended item with its own reason (which of the conditions
the plan applied -- ``ctx.notes.filters`` -- it meets, and what ordered it: a liked item,
the user's taste, popularity), its basis, a link and a picture when the catalog has them."""

from __future__ import annotations

from typing import Any

from agent.responder import Card, card_reason, media_of, period_label
from agent.turn.state import Collaborators, Outcome
from agent.types import Recommendation
from agent.vocabulary import norm
from tools.catalog.values import ItemFilter
from tools.context import ToolContext

_RANKERS = ("similar_items", "rank_for_user", "rank_by_popularity", "search_text")


def seeds_and_query(calls: list[dict[str, Any]], ctx: ToolContext) -> tuple[list[str], str]:
    """The items a plan ranked around (similar_items) and its text query (search_text)."""
    seeds: list[str] = []
    query = ""
    for c in calls:
        raw = c.get("args")
        args: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if c.get("name") == "similar_items":
            seeds += [str(i) for i in (args.get("item_ids") or ctx.bus.mentioned)]
        elif c.get("name") == "search_text" and args.get("query"):
            query = str(args["query"])
    return seeds, query


def closest_seed(
    seed_cats: dict[str, set[str]], seed_titles: dict[str, str], ranked_by: str,
    categories: list[str],
) -> tuple[str, list[str]]:
    """The seed closest to a card by kind (ties go to the first named): its title and the
    categories they share; nothing when ranked for the user and they share none."""
    best = max(seed_cats, key=lambda s: len(seed_cats[s] & set(categories)))
    if ranked_by == "similar_items" or seed_cats[best] & set(categories):
        return seed_titles.get(best, ""), [c for c in categories if c in seed_cats[best]]
    return "", []


def card_basis(
    liked: str, because: bool, known_user: bool, ranked_by: str, matched: list[str], query: str
) -> str:
    """What pulled a card up, as ``kind:detail`` (the card's basis)."""
    if liked:
        return f"{'liked' if because else 'similar'}:{liked}"
    if known_user:
        return "personal:"
    if ranked_by == "search_text" and matched:
        return f"text:{query}"
    if ranked_by in ("rank_by_popularity", "rank_for_user"):
        return "popular:"
    return ""


def _seeds(outcome: Outcome, ranked_by: str) -> list[str]:
    """The items the cards are compared with: the plan's seeds (the user's recent likes
    when ranked for the user), neither recommended now nor disliked."""
    ctx = outcome.ctx
    seeds, _query = seeds_and_query(outcome.attempt.calls, ctx)
    if ranked_by == "rank_for_user":
        seeds = list(ctx.session.profile.liked)[-10:]
    disliked = set(ctx.session.profile.disliked)  # a disliked title pulls nothing up
    return [i for i in dict.fromkeys(seeds) if i not in outcome.recs and i not in disliked]


def _known_user(kit: Collaborators, ctx: ToolContext, ranked_by: str, seeds: list[str]) -> bool:
    """Ranked for a user the model knows (the reason is "for you"), not around seeds."""
    return ranked_by == "rank_for_user" and not seeds and kit.knows_user(ctx.user_id)


def ordering(ctx: ToolContext, ranked_by: str) -> str:
    """What a list ranked on popularity was ordered by: "popularity" or "rating" (the
    ranking tool's own log says which); "" for any other ordering."""
    if ranked_by == "rank_for_user":
        return "popularity"  # no liked item and no known user: the model's popularity prior
    if ranked_by == "rank_by_popularity":
        entry = next(e for e in reversed(ctx.bus.log) if e.tool == ranked_by)
        return "rating" if entry.detail == "rating" else "popularity"
    return ""


def _met(filters: list[ItemFilter], year: int | None, rating: float | None
         ) -> tuple[str, float | None]:
    """The applied period a card's year is in (in words) and the applied rating floor its
    rating meets: only what the card can be seen to meet is claimed."""
    lows = [f.year_min for f in filters if f.year_min is not None]
    highs = [f.year_max for f in filters if f.year_max is not None]
    lo, hi = (max(lows) if lows else None), (min(highs) if highs else None)
    period = ""
    if (lows or highs) and year is not None and (lo is None or year >= lo) and (
            hi is None or year <= hi):
        period = period_label(lo, hi)
    floors = [f.min_rating for f in filters if f.min_rating is not None]
    floor = max(floors) if floors and rating is not None and rating >= max(floors) else None
    return period, floor


def recommendations(kit: Collaborators, outcome: Outcome) -> list[Recommendation]:
    """The cards of a turn, in the plan's order (item views read in the execute step)."""
    ids = outcome.recs
    if not ids:
        return []
    ctx = outcome.ctx
    views = kit.catalog.get_items(ids, n_tags=8)
    filters = ctx.notes.filters
    asked_categories = [c for f in filters for c in (*f.categories_all, *f.categories_any)]
    ranked_by = next((e.tool for e in reversed(ctx.bus.log) if e.tool in _RANKERS), "")
    liked_ids = list(ctx.session.profile.liked)
    _calls_seeds, query = seeds_and_query(outcome.attempt.calls, ctx)
    seeds = _seeds(outcome, ranked_by)
    seed_cats = {i: set(kit.catalog.item_categories(i)) for i in seeds[:10]}
    seed_titles = kit.catalog.titles(list(seed_cats)) if seed_cats else {}
    known_user = _known_user(kit, ctx, ranked_by, seeds)
    words = {w for w in norm(query).split() if len(w) > 2}
    noun = kit.words.noun
    out: list[Recommendation] = []
    for rank, i in enumerate(ids):
        v = views.get(i)
        if v is None:
            continue
        liked = ""
        shared: list[str] = []
        if seed_cats and ranked_by in ("similar_items", "rank_for_user"):
            liked, shared = closest_seed(seed_cats, seed_titles, ranked_by, v.categories)
        matched = [t for t in v.tags if words & set(norm(t).split())] if words else []
        because = bool(liked) and any(seed_titles.get(s) == liked for s in liked_ids)
        basis = card_basis(liked, because, known_user, ranked_by, matched, query)
        period_met, rating_met = _met(filters, v.year, v.rating_avg)
        reason = card_reason(
            categories=v.categories, year=v.year, asked_categories=asked_categories,
            period_met=period_met, rating_met=rating_met, liked=liked, shared=shared,
            because_liked=because, personal=known_user, matched=matched,
            ranked=ordering(ctx, ranked_by) if basis == "popular:" else "",
            rating_avg=v.rating_avg, rating_count=v.rating_count, noun=noun,
        )
        score = ctx.bus.score_of(i)
        link, image = media_of(v.attributes)
        out.append(Card(
            item_id=i, title=v.title,
            score=round(float(score), 6) if score == score else 0.0,
            reason=reason, year=v.year, categories=v.categories, link=link, image=image,
        ).with_basis(basis if rank < 10 else ""))
    return out
