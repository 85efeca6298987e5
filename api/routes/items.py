"""Catalog search and item detail (read-only; the blocking catalog runs in a thread)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from agent.responder import media_of
from api.deps import RuntimeDep, call_blocking
from api.errors import V1, ApiError, documented

router = APIRouter(tags=["items"])


class ItemHit(BaseModel):
    item_id: str
    title: str
    year: int | None
    score: float


class ItemList(BaseModel):
    items: list[ItemHit]


class ItemDetail(BaseModel):
    item_id: str
    title: str
    year: int | None
    categories: list[str]
    tags: list[str]
    rating_avg: float | None
    rating_count: int
    popularity: float
    description: str | None
    attributes: dict[str, Any]
    link: str | None = None  # a page about the item, from its attributes (as on the cards)
    image: str | None = None  # a picture of it, likewise


@router.get("/v1/items", response_model=ItemList, summary="Search the catalog by title",
            responses=documented(*V1, 422))
async def search_items(
    runtime: RuntimeDep,
    q: str = Query(default="", max_length=300,
                   description="title words; empty gives the most popular items"),
    limit: int = Query(default=20, ge=1, le=100),
) -> ItemList:
    matches = await call_blocking(runtime.catalog.search, q, limit)
    return ItemList(items=[ItemHit(item_id=m.item_id, title=m.title, year=m.year, score=m.score)
                           for m in matches])


@router.get("/v1/items/{item_id}", response_model=ItemDetail, summary="One item's facts",
            responses=documented(*V1, 404, 422))
async def get_item(
    runtime: RuntimeDep,
    item_id: str = Path(min_length=1, max_length=128),
) -> ItemDetail:
    found = await call_blocking(runtime.catalog.get_items, [item_id], n_tags=10)
    view = found.get(item_id)
    if view is None:
        raise ApiError(404, "item_not_found", f"no item {item_id!r} in the catalog")
    link, image = media_of(view.attributes)
    return ItemDetail.model_validate({**view.to_dict(), "link": link, "image": image})
