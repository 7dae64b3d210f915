"""Compatible API dialects. Each is mounted at the root and under /compat/<name>/."""

from __future__ import annotations

from fastapi import APIRouter


def root_routers() -> list[APIRouter]:
    """Routers mounted only at the root, before the dialects: paths two dialects share (compat/shared.py)."""
    from raysight.api.compat import shared

    return [shared.router]


def routers() -> list[tuple[str, APIRouter]]:
    from raysight.api.compat import autosele, filerec, imgseg, paddlex

    return [("imgseg", imgseg.router), ("filerec", filerec.router), ("paddlex", paddlex.router),
            ("autosele", autosele.router)]
