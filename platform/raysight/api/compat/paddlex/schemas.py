"""Request bodies of the PaddleX dialect (field names as paddlex-api.md spells them). Unknown fields are
ignored, as the PaddleX server does; wrong types answer status -1 naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DatasetCreate(Body):
    name: str = Field(min_length=1)
    desc: str = ""
    dataset_type: str | int


class DatasetImport(Body):
    did: str
    path: str


class DatasetSplit(Body):
    did: str
    val_split: float = Field(ge=0, lt=1)
    test_split: float = Field(default=0.0, ge=0, lt=1)


class ProjectCreate(Body):
    name: str = Field(min_length=1)
    desc: str = ""
    project_type: str | int


class TaskCreate(Body):
    pid: str
    train: dict[str, Any] | None = None
    desc: str | None = ""
    name: str | None = None
    parent_id: str | None = None


class TrainChange(Body):
    tid: str
    act: str
    epoch: int | None = None


class TrainStart(Body):
    tid: str
    eval_metric_loss: float | None = None


class Evaluate(Body):
    tid: str
    epoch: int | None = None
    topk: int | None = Field(default=None, ge=1)
    score_thresh: float | None = Field(default=None, ge=0, le=1)
    overlap_thresh: float | None = Field(default=None, ge=0, le=1)


class Predict(Body):
    tid: str
    image_data: str = Field(min_length=1)
    score_thresh: float | None = Field(default=None, ge=0, le=1)
    epoch: int | float | None = None


class Export(Body):
    tid: str
    type: str
    save_dir: str | None = None
    epoch: int | str | None = None
    quant: bool | None = False
    model_path: str | None = None


class ModelCreate(Body):
    pid: str
    tid: str
    name: str = Field(min_length=1)
    type: str
    source_path: str | None = None
    path: str | None = None
    exported_type: int | None = None
    eval_results: dict[str, Any] | None = None


class ModelDelete(Body):
    type: str
    pmid: str | None = None
    emid: str | None = None
