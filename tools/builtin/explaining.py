"""``explain``: why an item fits (shared categories/tags, liked items that pull it up).

What it finds is a reason only when something the user liked or named points to the item;
otherwise it says so and gives the item's facts apart (``data["facts"]``), so that a reply
never passes the facts off as the reason.
"""

from __future__ import annotations

from tools.builtin.common import known_ids, labels
from tools.catalog.values import ItemView
from tools.spec import Ctx, ToolOutput, tool

HISTORY = 200  # most recent interactions of a known user considered
GOOD_RATING = 3.5  # a rated interaction at least this good counts as liked


def _and(words: list[str]) -> str:
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def _facts(view: ItemView) -> str:
    """"Children and Comedy, rated 2.5/5 by 31 people"."""
    cats = _and(view.categories[:3]) or "uncategorised"
    rating = (f"rated {view.rating_avg:.1f}/5 by {view.rating_count} people"
              if view.rating_avg is not None else "not rated yet")
    return f"{cats}, {rating}"


@tool
def explain(ctx: Ctx, item_ids: list[str]) -> ToolOutput:
    """Why items fit: categories and tags shared with liked or named items, and which
    liked items pull them up.

    Args:
        item_ids: catalog item ids to explain (at most 10).
    """
    ids = known_ids(ctx, item_ids[:10])
    user = ctx.user_id
    liked = list(dict.fromkeys(list(ctx.session.profile.liked) + list(ctx.bus.mentioned)))
    try:
        model = ctx.models.default
    except LookupError:
        model = None
    views = ctx.catalog.get_items(list(dict.fromkeys(ids + liked)))
    basis, who = liked, "what you liked"
    if model is not None and user is not None and model.knows_user(user):
        history = [h for h, rating in ctx.catalog.user_history(user, limit=HISTORY)
                   if rating is None or rating >= GOOD_RATING]
        basis, who = list(dict.fromkeys(liked + history)), "your history"
    lines, reasons, facts = [], {}, {}
    for i in ids:
        view = views[i]
        parts = []
        others = [views[o] for o in liked if o in views and o != i]
        shared_cats = [c for c in view.categories if any(c in o.categories for o in others)]
        shared_tags = [t for t in view.tags if any(t in o.tags for o in others)]
        if shared_cats:
            with_ = labels(ctx, [o.item_id for o in others][:2])
            parts.append(f"shares {_and(shared_cats[:3])} with {with_}")
        if shared_tags:
            parts.append(f"shares the tags {_and(shared_tags[:3])}")
        pullers = []
        if model is not None and basis:
            # the user's items most similar to this one (collaborative neighbours): what
            # pulls it up in their ranking, without a per-item least-squares solve
            pullers = model.similar_items([i], n=3, candidates=[b for b in basis if b != i])
        if pullers:
            parts.append(f"is close to {who}: {labels(ctx, [p.item_id for p in pullers])}")
        reasons[i] = "; ".join(parts)
        facts[i] = _facts(view)
        lines.append(f"{ctx.catalog.label(i)}: " + (
            reasons[i] or f"nothing liked or named points to it ({facts[i]})"))
    return ToolOutput(text="\n".join(lines), data={"reasons": reasons, "facts": facts},
                      items=ids)
