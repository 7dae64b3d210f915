"""Health and plugin discovery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from raysight.api.deps import platform
from raysight.api.middleware.auth import has_valid_key, key_is_required
from raysight.context import Platform
from raysight.services import system

router = APIRouter(tags=["system"])


@router.get("/health")
def health(request: Request, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Database, Ray, Serve deployments (with the resources each got) and loaded plugins. With an API
    key configured, a caller without it learns only {"status"} (paths, addresses and errors stay hidden)."""
    report = system.health(ctx=ctx)
    key = ctx.settings.api_key
    if key_is_required(key) and not has_valid_key(request.scope.get("headers", []), key):
        return {"status": report["status"]}
    return report


@router.get("/plugins")
def plugins(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return system.plugins(ctx=ctx)
