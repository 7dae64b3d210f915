"""Compatible API dialects. Each is mounted at the root and under /compat/<name>/."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[tuple[str, APIRouter]]:
    from raysight.api.compat import autosele, filerec, imgseg

    return [("imgseg", imgseg.router), ("filerec", filerec.router), ("autosele", autosele.router)]
