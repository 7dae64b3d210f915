"""Static files: uploads and dataset images, confined to their workspace folders."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from raysight.api.deps import platform
from raysight.context import Platform

router = APIRouter(tags=["files"])


@router.get("/uploads/{filename}")
def serve_upload(filename: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """A file of the uploads folder (inference and ingest images)."""
    return FileResponse(ctx.workspace.resolve_served(f"uploads/{filename}", allowed=("uploads",)))


@router.get("/datasets/{dataset_id}/{version}/{path:path}")
def serve_dataset_file(dataset_id: str, version: str, path: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """A file of a prepared dataset version: the image_path of annotation items resolves here."""
    return FileResponse(ctx.workspace.resolve_served(f"datasets/{dataset_id}/{version}/{path}"))


@router.get("/models/{model_id}/files/{path:path}")
def serve_model_file(model_id: str, path: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """Plots and other files a model's training wrote (results.png, confusion_matrix.png...)."""
    return FileResponse(ctx.workspace.resolve_served(f"models/{model_id}/{path}", allowed=("models",)))
