"""Native API: data selection (random and uncertainty sampling) as tracked tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import selection

router = APIRouter(tags=["selection"])

_POOL = "a folder of images, or a text file listing one image path per line (under RAYSIGHT_IMPORT_ROOTS)"
_COUNT = "images to pick: a whole number, or a fraction of the pool between 0 and 1"


class RandomRequest(BaseModel):
    pool: str = Field(description=_POOL)
    output_dir: str = Field(description="folder the chosen images are copied into (under RAYSIGHT_IMPORT_ROOTS)")
    count: float = Field(description=_COUNT)
    shuffle: bool = Field(default=True, description="true: a uniform random sample; false: evenly spaced in pool order")
    seed: int | None = Field(default=None, description="seed of the random sample (reproducible picks)")


class UncertaintyRequest(BaseModel):
    model_id: str = Field(description="a registered model with predict (classification or detection)")
    pool: str = Field(description=_POOL)
    output_dir: str = Field(description="folder the chosen images are copied into (under RAYSIGHT_IMPORT_ROOTS)")
    count: float = Field(description=_COUNT)
    strategy: str = Field(default=selection.DEFAULT_STRATEGY, description="least_confidence, margin or entropy")
    shuffle: bool = Field(default=False, description="write the chosen images in random order")


class Started(BaseModel):
    task_id: str
    status: str


class SelectionTask(BaseModel):
    task_id: str
    kind: str
    status: str
    progress: float
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


@router.post("/selection/random", response_model=Started)
async def start_random(body: RandomRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Copy `count` randomly sampled images of the pool into `output_dir` (poll GET /selection/{task_id})."""
    task_id = selection.start_random(ctx=ctx, pool=body.pool, output_dir=body.output_dir, count=body.count,
                                     shuffle=body.shuffle, seed=body.seed)
    return {"task_id": task_id, "status": "pending"}


@router.post("/selection/uncertainty", response_model=Started)
async def start_uncertainty(body: UncertaintyRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """Run the model over the pool (on the model deployments) and copy the `count` images it is least
    sure of into `output_dir` (poll GET /selection/{task_id})."""
    task_id = selection.start_uncertainty(ctx=ctx, model_id=body.model_id, pool=body.pool,
                                          output_dir=body.output_dir, count=body.count,
                                          strategy=body.strategy, shuffle=body.shuffle)
    return {"task_id": task_id, "status": "pending"}


@router.get("/selection/{task_id}", response_model=SelectionTask)
def get_selection(task_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    """A selection task: status, progress (0..1) and, when completed, the chosen images (and scores)."""
    return selection.get(ctx=ctx, task_id=task_id)
