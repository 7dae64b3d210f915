"""The native API (specs/platform-api.md)."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from raysight.api.native import (
        annotation,
        dataops,
        datasets,
        files,
        infer,
        logs,
        model_ops,
        models,
        projects,
        selection,
        system,
        train,
    )

    return [
        system.router,
        datasets.router,
        annotation.router,
        train.router,
        logs.router,
        infer.router,
        models.router,
        model_ops.router,
        files.router,
        selection.router,
        dataops.router,
        projects.router,
    ]
