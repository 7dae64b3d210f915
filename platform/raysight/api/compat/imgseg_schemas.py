"""Request bodies of the imgseg dialect (field names as the spec and its client send them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    topic_id: str | None = None
    user_id: str | None = None


class PredictResnetBody(_Body):
    image_url_list: list[str] = Field(min_length=1)
    model_id: str | None = None
    input_component_type: str | None = None


class _SamBody(_Body):
    image_url: str
    prompt: dict[str, Any] | None = None
    is_predict_type: bool = False
    resnet_model_id: str | None = None
    read_text_component_list: list[str] | None = None
    cut_outline_flag: bool = False
    model_type: str | None = Field(default=None, description="the segmenter's model (SAM: vit_t default, vit_b/l/h)")
    points_per_side: int | None = Field(default=None, ge=1, le=64)


class PredictSamBody(_SamBody):
    pass


class PredictSam2Body(_SamBody):
    select_box: list[float] | None = None


class PredictSam3Body(_SamBody):
    points: list[Any]


class PredictTextBody(_Body):
    image_url_list: list[str] = Field(min_length=1)


class TrainParams(BaseModel):
    epochs: int = Field(default=10, ge=1, le=1000)
    batch_size: int = Field(default=8, ge=1, le=1024)
    learning_rate: float = Field(default=0.001, gt=0, le=1)


class TrainStartBody(BaseModel):
    user_id: str
    task_type: str = "train"
    train_params: TrainParams = Field(default_factory=TrainParams)


class TrainTaskBody(BaseModel):
    train_task_id: str
    user_id: str | None = None
    task_type: str = "train"


class GetTrainDataBody(BaseModel):
    user_id: str
    dataset: dict[str, Any]
