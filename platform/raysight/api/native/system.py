"""Health and plugin discovery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import system

router = APIRouter(tags=["system"])


@router.get("/health")
def health(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Database, Ray, Serve deployments (with the resources each got) and loaded plugins."""
    return system.health(ctx=ctx)


@router.get("/plugins")
def plugins(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return system.plugins(ctx=ctx)
