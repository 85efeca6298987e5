"""The registered tools (built-ins and plug-ins) as the planner sees them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import RuntimeDep
from api.errors import V1, documented

router = APIRouter(tags=["tools"])


class ToolList(BaseModel):
    tools: list[dict[str, Any]]  # name, description, schema (JSON schema of the args), origin


@router.get("/v1/tools", response_model=ToolList, summary="Registered tools",
            responses=documented(*V1))
async def list_tools(runtime: RuntimeDep) -> ToolList:
    return ToolList(tools=[
        {"name": t.name, "description": t.description, "schema": t.schema, "origin": t.origin}
        for t in runtime.registry.list()
    ])
