"""imgseg dialect (specs/imgseg-api.md): envelope {code, status, message, payload}."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["imgseg"])
