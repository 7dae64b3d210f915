"""Native API: the model registry (specs/platform-api.md, 模型管理 / Model Management), plus the
extension POST /models/upload to register weights a user brings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from raysight.api.deps import multipart_doc, platform
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import models

router = APIRouter(tags=["models"])

_UPLOAD_DOC = multipart_doc(
    ["file", "plugin"],
    {
        "file": {"type": "string", "format": "binary", "description": "weights (.pt / .pth); refused (400) "
                 "unless it loads into the family's architecture, keys and shapes checked"},
        "plugin": {"type": "string", "description": "model family (yolo, resnet, sam) or a model "
                   "name that names one and its architecture (yolov8n.pt, resnet18, vit_b)"},
        "name": {"type": "string"},
        "classes": {"type": "string", "description": "comma-separated class names"},
        "description": {"type": "string"},
        "tags": {"type": "string", "description": "comma-separated tags"},
    },
)


class ModelInfo(BaseModel):
    model_id: str
    name: str
    description: str
    weights_path: str
    file_size: int
    file_size_mb: float
    created_at: str | None
    updated_at: str | None = None
    job_id: str | None = None
    dataset_id: str | None = None
    tags: list[str] = []
    plugin: str
    task_type: str
    classes: list[str] = []
    metrics: dict[str, Any] = {}
    training_metrics: dict[str, Any] = {}
    pretrained: bool = False
    plots: list[str] = Field(default_factory=list, description="URLs of the training plots")
    stage: str | None = Field(None, description="registry stage: null, or 'released' once published")


class ModelList(BaseModel):
    models: list[ModelInfo]


class UpdateRequest(BaseModel):
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None


class OkResponse(BaseModel):
    ok: bool
    message: str


def _split(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


@router.get("/models", response_model=ModelList)
def list_models(stage: str | None = Query(None, description="only models at this registry stage (e.g. released)"),
                ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return models.list_models(ctx=ctx, stage=stage)


@router.post("/models/upload", response_model=ModelInfo, openapi_extra=_UPLOAD_DOC)
async def upload_model(request: Request, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Extension: register weights you bring (multipart: file, plugin, name, classes, description, tags)."""
    form = await request.form()
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise Invalid("multipart field 'file' (a weights file) is required")
        plugin = str(form.get("plugin") or form.get("model_type") or "").strip()
        if not plugin:
            raise Invalid("field 'plugin' (model family, e.g. yolo or resnet) is required")
        return await models.upload(
            ctx=ctx, filename=file.filename or "", read=file.read, plugin=plugin,
            name=str(form.get("name") or "") or None, classes=_split(form.get("classes")),
            description=str(form.get("description") or ""), tags=_split(form.get("tags")),
        )
    finally:
        await form.close()


@router.get("/models/{model_id}", response_model=ModelInfo)
def get_model(model_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return models.get(ctx=ctx, model_id=model_id)


@router.put("/models/{model_id}", response_model=ModelInfo)
def update_model(model_id: str, body: UpdateRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return models.update(ctx=ctx, model_id=model_id, name=body.name, description=body.description, tags=body.tags)


@router.delete("/models/{model_id}", response_model=OkResponse)
async def delete_model(model_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Remove the model's record and files and evict it from the serving replicas."""
    return await models.delete(ctx=ctx, model_id=model_id)
