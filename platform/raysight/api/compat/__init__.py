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


def prefixed_routers() -> list[tuple[str, APIRouter]]:
    """Native routes a dialect documents (imgseg's serve_upload, GET /uploads/{filename}): the root already
    answers them, so they are mounted under /compat/<name>/ only, answering as at the root."""
    from raysight.api.native import files

    return [("imgseg", files.uploads_router)]
