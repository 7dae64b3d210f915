"""Native API extensions: evaluating, exporting and pruning registered models (tracked tasks), the
evaluation's .xlsx report and the exported files (artifacts). Thin routes over services.evaluation,
services.exports and services.pruning; errors are the native {"detail": ...} envelope."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.errors import NotFound
from raysight.services import evaluation, exports, models, pruning, tasks
from raysight.services.model_tasks import task_of

router = APIRouter(tags=["model operations"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KINDS = (evaluation.KIND, exports.KIND, pruning.ANALYSIS, pruning.PRUNE)


class DataChoice(BaseModel):
    dataset_id: str | None = Field(default=None, description="default: the dataset the model was trained on")
    version: str | None = Field(default=None, description="default: the version it was trained on")
    split: Literal["val", "test", "train"] | None = Field(default=None, description="default: val")


class EvaluateRequest(DataChoice):
    imgsz: int | None = Field(default=None, ge=32, le=8192)
    batch: int | None = Field(default=None, ge=1, le=1024)
    topk: int | None = Field(default=None, ge=1, le=100, description="classification: top-k accuracy (default 5)")
    conf: float | None = Field(default=None, ge=0, le=1, description="detection: score threshold of the "
                               "confusion matrix (default 0.25; mAP uses the whole precision-recall curve)")
    iou: float | None = Field(default=None, ge=0, le=1, description="detection: NMS IoU (default 0.7)")


class ExportRequest(DataChoice):
    format: Literal["onnx", "onnx_int8"] = Field(description="onnx: float32 ONNX; onnx_int8: int8 quantized ONNX")


class AnalysisRequest(DataChoice):
    ratios: list[float] | None = Field(default=None, description="pruning ratios in (0, 1); default 0.1..0.5")
    groups: list[str] | None = Field(default=None, description="layer groups (ResNet: layer1..layer4); default all")


class PruneRequest(DataChoice):
    ratio: float = Field(gt=0, lt=1, description="share of the groups' channels removed")
    groups: list[str] | None = None
    epochs: int = Field(default=5, ge=1, le=10_000, description="fine-tuning epochs (a training job)")
    batch: int = Field(default=-1, ge=-1, le=4096, description="fine-tuning batch (-1: automatic)")


class TaskInfo(BaseModel):
    task_id: str
    kind: str
    status: str
    progress: float
    owner: str | None = None
    params: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TaskList(BaseModel):
    tasks: list[TaskInfo]


class ArtifactList(BaseModel):
    artifacts: list[dict[str, Any]]


class CancelResponse(BaseModel):
    task_id: str
    status: str


# -- evaluation ------------------------------------------------------------------------------------------------
@router.post("/models/{model_id}/evaluate", response_model=TaskInfo)
async def evaluate(model_id: str, body: EvaluateRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Start evaluating the model on a dataset split (a task; poll GET .../evaluations/{task_id})."""
    options = evaluation.options_of(imgsz=body.imgsz, batch=body.batch, topk=body.topk, conf=body.conf, iou=body.iou)
    return evaluation.start(ctx=ctx, model_id=model_id, dataset_id=body.dataset_id, version=body.version,
                            split=body.split, options=options)


@router.get("/models/{model_id}/evaluations", response_model=TaskList)
def list_evaluations(model_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return {"tasks": evaluation.list_evaluations(ctx=ctx, model_id=model_id)}


@router.get("/models/{model_id}/evaluations/{task_id}", response_model=TaskInfo)
def get_evaluation(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """The evaluation task; once completed its result is the report (metrics, per_class, confusion...)."""
    return evaluation.get(ctx=ctx, model_id=model_id, task_id=task_id)


@router.get("/models/{model_id}/evaluations/{task_id}/report.xlsx", response_class=FileResponse)
def evaluation_xlsx(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> FileResponse:
    """The completed evaluation as an Excel workbook (Summary, Per class, Confusion matrix); 409 before."""
    path = evaluation.report_xlsx(ctx=ctx, model_id=model_id, task_id=task_id)
    return FileResponse(path, media_type=XLSX, filename=path.name)


# -- export --------------------------------------------------------------------------------------------------------
@router.post("/models/{model_id}/export", response_model=TaskInfo)
async def export(model_id: str, body: ExportRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Start an export (a task); the file becomes an artifact of the model. int8 reports its accuracy drop."""
    return exports.start(ctx=ctx, model_id=model_id, fmt=body.format, dataset_id=body.dataset_id,
                         version=body.version, split=body.split)


@router.get("/models/{model_id}/exports", response_model=TaskList)
def list_exports(model_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return {"tasks": exports.list_exports(ctx=ctx, model_id=model_id)}


@router.get("/models/{model_id}/exports/{task_id}", response_model=TaskInfo)
def get_export(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return exports.get(ctx=ctx, model_id=model_id, task_id=task_id)


@router.get("/models/{model_id}/artifacts", response_model=ArtifactList)
def list_artifacts(model_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Files exported from the model (name, format, size_bytes, url, parity, quantization...)."""
    return {"artifacts": models.artifacts(ctx=ctx, model_id=model_id)}


@router.get("/models/{model_id}/artifacts/{name}", response_class=FileResponse)
def download_artifact(model_id: str, name: str, ctx: Platform = Depends(platform)) -> FileResponse:
    path = models.artifact_path(ctx=ctx, model_id=model_id, name=name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


# -- pruning --------------------------------------------------------------------------------------------------------
@router.post("/models/{model_id}/prune/analysis", response_model=TaskInfo)
async def prune_analysis(model_id: str, body: AnalysisRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Start a pruning sensitivity analysis (metric lost per ratio per layer group, no fine-tuning)."""
    return pruning.start_analysis(ctx=ctx, model_id=model_id, ratios=body.ratios, groups=body.groups,
                                  dataset_id=body.dataset_id, version=body.version, split=body.split)


@router.get("/models/{model_id}/prune/analysis/{task_id}", response_model=TaskInfo)
def get_prune_analysis(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """The analysis task; its result holds the table and `chart`, the URL of the sensitivity chart."""
    return pruning.get_analysis(ctx=ctx, model_id=model_id, task_id=task_id)


@router.post("/models/{model_id}/prune", response_model=TaskInfo)
async def prune(model_id: str, body: PruneRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Start pruning at `ratio` and fine-tuning as a training job; the result names the new model."""
    return pruning.start_prune(ctx=ctx, model_id=model_id, ratio=body.ratio, groups=body.groups, epochs=body.epochs,
                               batch=body.batch, dataset_id=body.dataset_id, version=body.version, split=body.split)


@router.get("/models/{model_id}/prune/{task_id}", response_model=TaskInfo)
def get_prune(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return pruning.get_prune(ctx=ctx, model_id=model_id, task_id=task_id)


@router.post("/models/{model_id}/operations/{task_id}/cancel", response_model=CancelResponse)
def cancel(model_id: str, task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Cancel an evaluation, export, analysis or prune of this model (409 once it has ended)."""
    for kind in KINDS:
        try:
            task_of(ctx, model_id=model_id, task_id=task_id, kind=kind)
        except NotFound:
            continue
        return {"task_id": task_id, "status": tasks.request_cancel(ctx=ctx, task_id=task_id)}
    raise NotFound(f"task '{task_id}' not found for model '{model_id}'")
