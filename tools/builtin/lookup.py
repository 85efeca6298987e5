"""``lookup_items`` (names -> catalog items), ``item_info`` (facts about items) and
``lookup_categories`` (words -> the catalog's category names)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.builtin.common import known_ids
from tools.catalog.values import UnknownCategoryError
from tools.spec import Ctx, ToolOutput, tool


@tool
def lookup_items(ctx: Ctx, names: Annotated[list[str], Field(min_length=1, max_length=10)]
                 ) -> ToolOutput:
    """Find catalog items by title (typos, articles and years tolerated).

    Adds the found items to the mentioned items (seeds for similar_items). Names that
    match nothing well enough are reported as not found.

    Args:
        names: titles as the user wrote them, e.g. ["Heat", "The Matrix (1999)"].
    """
    lines: list[str] = []
    found: list[str] = []
    matches: dict[str, list[dict[str, object]]] = {}
    for raw in names:
        name = raw.strip()[:200]
        hits = ctx.catalog.lookup(name, limit=3) if name else []
        if not hits:
            lines.append(f'"{name}": not found')
            if name and name not in ctx.notes.unresolved:
                ctx.notes.unresolved.append(name)
            matches[name] = []
            continue
        best = hits[0]
        found.append(best.item_id)
        ctx.notes.resolved[name] = best.item_id
        if best.item_id not in ctx.bus.mentioned:
            ctx.bus.mentioned.append(best.item_id)
        year = f" ({best.year})" if best.year else ""
        line = f'"{name}" -> {best.title}{year} [id {best.item_id}, score {best.score:g}]'
        others = [h for h in hits[1:] if h.score >= best.score - 1]
        if others:
            line += "; also " + ", ".join(
                f"{h.title} ({h.year}) [id {h.item_id}]" for h in others)
        lines.append(line)
        matches[name] = [{"item_id": h.item_id, "title": h.title, "year": h.year,
                          "score": h.score} for h in hits]
    return ToolOutput(text="\n".join(lines), data={"matches": matches}, items=found)


@tool
def item_info(ctx: Ctx, item_ids: list[str]) -> ToolOutput:
    """Facts about items: year, categories, top tags, rating average and count.

    Args:
        item_ids: catalog item ids.
    """
    ids = known_ids(ctx, item_ids)
    views = ctx.catalog.get_items(ids)
    lines = []
    for i in ids:
        v = views[i]
        rating = f"{v.rating_avg:.2f} from {v.rating_count}" if v.rating_avg is not None \
            else "unrated"
        line = (f"[{i}] {v.title} ({v.year or '?'}): {', '.join(v.categories) or '-'}; "
                f"rating {rating}")
        if v.tags:
            line += f"; tags: {', '.join(v.tags)}"
        if v.description:
            line += f"; {v.description[:160]}"
        lines.append(line)
    missing = [i for i in item_ids if i not in views]
    if missing:
        lines.append(f"unknown ids: {', '.join(missing[:5])}")
    return ToolOutput(text="\n".join(lines), data={"items": [views[i].to_dict() for i in ids]},
                      items=ids)


@tool
def lookup_categories(
    ctx: Ctx,
    words: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                     Field(min_length=1, max_length=10)],
) -> ToolOutput:
    """Find the catalog's category names for the words the user used.

    For catalogs with too many categories to list in the schemas: call it first, then use
    the names it returns in filter_items and update_profile.

    Args:
        words: kinds of item as the user wrote them, e.g. ["sci fi", "true crime"].
    """
    lines: list[str] = []
    found: dict[str, list[str]] = {}
    for raw in words:
        word = raw.strip()
        try:
            names = ctx.catalog.resolve_categories([word])
            lines.append(f'"{word}" -> {names[0]}')
        except UnknownCategoryError as exc:
            names = exc.unknown.get(word, [])
            lines.append(f'"{word}": not a category as such; the closest: '
                         f'{", ".join(names) or "none"}')
        found[word] = names
    return ToolOutput(text="\n".join(lines), data={"categories": found})


# the lookup tools that stand in for a catalog vocabulary too large for an enum in the
# schemas (agent.prompts.catalog_schemas leaves them out when the enum is given)
VOCABULARY_LOOKUPS = {"lookup_categories": "categories"}
