"""``update_profile``: likes, dislikes and expectations stated in the message."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from tools.catalog.repository import UnknownCategoryError
from tools.context import ToolContext
from tools.errors import ModelRetry
from tools.spec import Category, Ctx, ToolOutput, tool

Year = Annotated[int, Field(ge=1800, le=2100)]
Ids = Annotated[list[str], Field(max_length=20)]


def _resolve(ctx: ToolContext, refs: list[str]) -> list[str]:
    """Item ids, or titles resolved through the lookup (ModelRetry for the unresolvable)."""
    out, bad = [], []
    for ref in refs:
        ref = ref.strip()
        if ctx.catalog.has(ref):
            out.append(ref)
            continue
        hits = ctx.catalog.lookup(ref, limit=1) if ref else []
        if hits:
            out.append(hits[0].item_id)
        else:
            bad.append(ref)
    if bad:
        raise ModelRetry(f"unknown item(s) {', '.join(repr(b) for b in bad[:5])}: pass item "
                         "ids from lookup_items")
    return out


@tool
def update_profile(
    ctx: Ctx,
    like: Ids | None = None,
    dislike: Ids | None = None,
    seen: Ids | None = None,
    want_categories: list[Category] | None = None,
    avoid_categories: list[Category] | None = None,
    year_min: Year | None = None,
    year_max: Year | None = None,
    popularity: Literal["popular", "niche"] | None = None,
    note: Annotated[str, Field(max_length=200)] | None = None,
) -> ToolOutput:
    """Remember what the user said they like, dislike or expect (for this session).

    Args:
        like: item ids (or titles) the user likes.
        dislike: item ids (or titles) the user dislikes; never recommended again.
        seen: item ids (or titles) the user has already seen; not recommended again.
        want_categories: categories the user wants.
        avoid_categories: categories the user wants to avoid.
        year_min: earliest year wanted.
        year_max: latest year wanted.
        popularity: prefers popular or niche items.
        note: any other stated expectation, short.
    """
    if year_min is not None and year_max is not None and year_min > year_max:
        raise ModelRetry(f"year_min {year_min} is after year_max {year_max}")
    try:
        wanted = ctx.catalog.resolve_categories(want_categories or [])
        avoided = ctx.catalog.resolve_categories(avoid_categories or [])
    except UnknownCategoryError as exc:
        raise ModelRetry(str(exc)) from None
    liked = _resolve(ctx, like or [])
    disliked = _resolve(ctx, dislike or [])
    already = _resolve(ctx, seen or [])
    if not any((liked, disliked, already, wanted, avoided, year_min, year_max, popularity, note)):
        raise ModelRetry("nothing to record: give at least one of like, dislike, seen, "
                         "want_categories, avoid_categories, year_min, year_max, popularity, note")
    changes = _record_items(ctx, liked, disliked, already)
    changes += _record_expectations(ctx, wanted, avoided, year_min, year_max, popularity, note)
    if disliked and ctx.bus.rows is not None:
        gone = ctx.catalog.rows(disliked)
        ctx.bus.narrow_rows("update_profile", ~np.isin(ctx.bus.rows, gone),
                            detail="dislikes removed")
    ctx.notes.profile_changes.extend(changes)
    return ToolOutput(text="profile: " + "; ".join(changes),
                      data={"changes": changes, "liked": liked, "disliked": disliked},
                      items=liked + disliked)


def _record_items(
    ctx: ToolContext, liked: list[str], disliked: list[str], already: list[str]
) -> list[str]:
    """Likes, dislikes and seen items into the session's profile; the changes, described."""
    profile = ctx.session.profile
    changes = []
    for i in liked:
        profile.like(i)
        changes.append(f"likes {ctx.catalog.label(i)}")
    for i in disliked:
        profile.dislike(i)
        changes.append(f"dislikes {ctx.catalog.label(i)}")
    for i in already:
        profile.saw(i)
        changes.append(f"has seen {ctx.catalog.label(i)}")
    return changes


def _record_expectations(
    ctx: ToolContext,
    wanted: list[str],
    avoided: list[str],
    year_min: int | None,
    year_max: int | None,
    popularity: Literal["popular", "niche"] | None,
    note: str | None,
) -> list[str]:
    """Stated expectations into the session's profile; the changes, described."""
    exp = ctx.session.profile.expectations
    changes = []
    for c in wanted:
        exp.want(c)
        changes.append(f"wants {c}")
    for c in avoided:
        exp.avoid(c)
        changes.append(f"avoids {c}")
    if year_min is not None:
        exp.year_min = year_min
        changes.append(f"from {year_min}")
    if year_max is not None:
        exp.year_max = year_max
        changes.append(f"until {year_max}")
    if popularity is not None:
        exp.popularity = popularity
        changes.append(f"prefers {popularity}")
    if note:
        exp.notes = (exp.notes + [note.strip()])[-10:]
        changes.append(f"note: {note.strip()}")
    return changes
