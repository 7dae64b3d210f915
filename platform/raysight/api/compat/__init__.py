"""Compatible API dialects. Each is mounted at the root and under /compat/<name>/."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[tuple[str, APIRouter]]:
    from raysight.api.compat import filerec, imgseg, paddlex

    return [("imgseg", imgseg.router), ("filerec", filerec.router), ("paddlex", paddlex.router)]
