"""The native API (specs/platform-api.md)."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from raysight.api.native import annotation, datasets, files, infer, logs, models, projects, system, train

    return [
        system.router,
        datasets.router,
        annotation.router,
        train.router,
        logs.router,
        infer.router,
        models.router,
        files.router,
        projects.router,
    ]
