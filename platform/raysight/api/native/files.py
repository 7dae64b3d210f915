"""Static files: uploads and dataset images, confined to their workspace folders.

Only images are served (dataset files) or plots (model files), with a content type chosen from a fixed
list by suffix, `X-Content-Type-Options: nosniff` and a sandboxing CSP: an .html or .svg inside an
uploaded zip never runs as a page of the API's origin, and a model's weights are not downloadable.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.errors import NotFound

router = APIRouter(tags=["files"])
uploads_router = APIRouter(tags=["files"])  # GET /uploads/{filename} alone (imgseg documents it too)

IMAGE_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp",
    ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff", ".gif": "image/gif",
}
PLOT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def _file(path: Path, types: dict[str, str]) -> FileResponse:
    """`path` with a content type from `types` (NotFound, as if absent, for any other kind)."""
    media = types.get(path.suffix.lower())
    if media is None:
        raise NotFound("file not found")
    return FileResponse(path, media_type=media, headers=SAFE_HEADERS)


@uploads_router.get("/uploads/{filename}")
def serve_upload(filename: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """An image of the uploads folder (inference and ingest images)."""
    return _file(ctx.workspace.resolve_served(f"uploads/{filename}", allowed=("uploads",)), IMAGE_TYPES)


router.include_router(uploads_router)


@router.get("/datasets/{dataset_id}/{version}/{path:path}")
def serve_dataset_file(dataset_id: str, version: str, path: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """An image of a prepared dataset version: the image_path of annotation items resolves here."""
    return _file(ctx.workspace.resolve_served(f"datasets/{dataset_id}/{version}/{path}"), IMAGE_TYPES)


@router.get("/models/{model_id}/files/{path:path}")
def serve_model_file(model_id: str, path: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """Plots a model's training wrote (results.png, confusion_matrix.png...); never its weights."""
    return _file(ctx.workspace.resolve_served(f"models/{model_id}/{path}", allowed=("models",)), PLOT_TYPES)
