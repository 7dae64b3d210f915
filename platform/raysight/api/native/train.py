"""Native API: training jobs (specs/platform-api.md, 训练管理 / Training Management)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from raysight import defaults
from raysight.api.deps import platform
from raysight.api.responses import OkResponse
from raysight.context import Platform
from raysight.services import training

router = APIRouter(tags=["train"])


class CreateJobRequest(BaseModel):
    dataset_id: str
    version: str = "v1"
    model_name: str | None = Field(
        default=None,
        description="yolov8n.pt / yolov8s.pt / yolo11n.pt, resnet18/34/50, or a registered model id; "
        "default yolov8n.pt for a detection dataset, resnet18 for a classification one",
    )
    epochs: int = Field(default=defaults.TRAIN_EPOCHS, ge=1, le=10_000)
    imgsz: int = Field(default=defaults.TRAIN_IMGSZ, ge=32, le=8192)
    batch: int = Field(default=defaults.TRAIN_BATCH, ge=-1, le=4096, description="-1 = automatic")
    base_model_id: str | None = Field(default=None, description="registered model to fine-tune")
    params: dict[str, Any] | None = Field(
        default=None,
        description="extension: family options, e.g. lr, patience, plots, workers, num_workers (ResNet workers)",
    )

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: int) -> int:
        if value == 0:
            raise ValueError("batch must be -1 (auto) or at least 1")
        return value


class CreateJobResponse(BaseModel):
    job_id: str
    status: str


class Job(BaseModel):
    job_id: str
    dataset_id: str
    version: str
    model_name: str
    base_model_id: str | None = None
    epochs: int
    imgsz: int
    batch: int
    status: str
    created_at: str | None
    started_at: str | None = None
    completed_at: str | None = None
    model_id: str | None = None
    log_file: str | None = None
    plugin: str
    task_type: str
    params: dict[str, Any] = {}
    epoch: int = 0
    history: list[dict[str, Any]] = []
    eta_s: float | None = None
    pretrained: bool = False
    error: str | None = None
    checkpoint_epoch: int | None = None
    attempt: int = 0
    resumed_from_epoch: int | None = Field(
        default=None, description="epoch the last resume continued from (0: no checkpoint, restarted)")
    queue_reason: str | None = Field(default=None, description="what a queued job waits for (None unless queued)")


class JobList(BaseModel):
    jobs: list[Job]


class ResumeResponse(OkResponse):
    job_id: str
    status: str


@router.post("/train/jobs", response_model=CreateJobResponse)
def create_job(body: CreateJobRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Start a training job (queued when the cluster has no room; it then starts by itself)."""
    return training.create_job(ctx=ctx, **body.model_dump())


@router.get("/train/jobs", response_model=JobList)
def list_jobs(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return training.list_jobs(ctx=ctx)


@router.get("/train/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return training.get_job(ctx=ctx, job_id=job_id)


@router.post("/train/jobs/{job_id}/stop", response_model=OkResponse)
def stop_job(job_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Stop within seconds; checkpoints are kept. 409 if the job is not queued or running."""
    return training.stop_job(ctx=ctx, job_id=job_id)


@router.post("/train/jobs/{job_id}/resume", response_model=ResumeResponse)
def resume_job(job_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Continue from the last checkpoint (after a stop, a failure or a server restart)."""
    return training.resume_job(ctx=ctx, job_id=job_id)


@router.delete("/train/jobs/{job_id}", response_model=OkResponse)
def delete_job(job_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return training.delete_job(ctx=ctx, job_id=job_id)
