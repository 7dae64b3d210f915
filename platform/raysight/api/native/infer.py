"""Native API: infer (specs/platform-api.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["infer"])
