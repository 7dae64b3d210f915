"""Request bodies of the filerec dialect (read from the JSON body, form fields or query parameters)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

_ID = Field(min_length=1, max_length=128)
_TASK_ID = Field(min_length=1, max_length=64)  # the task table's key length


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, protected_namespaces=())


class _TrainingFields(BaseModel):
    """Training parameters: those set_parameters stores, and add_task's overrides of them."""

    model_config = ConfigDict(protected_namespaces=())

    dataset_id: str | None = Field(default=None, max_length=128)
    version: str | None = Field(default=None, max_length=32)
    model_name: str | None = Field(default=None, max_length=128)
    base_model_id: str | None = Field(default=None, max_length=128)
    epochs: int | None = Field(default=None, ge=1, le=10_000)
    imgsz: int | None = Field(default=None, ge=32, le=8192)
    batch: int | None = Field(default=None, ge=-1, le=4096, validation_alias=AliasChoices("batch", "batch_size"))
    learning_rate: float | None = Field(default=None, gt=0, le=1, validation_alias=AliasChoices("learning_rate", "lr"))


TRAINING_FIELDS = frozenset(_TrainingFields.model_fields)


class TaskIdBody(_Body):
    task_id: str = _TASK_ID


class OptionalTaskIdBody(_Body):
    task_id: str | None = Field(default=None, max_length=64)


class AddTaskBody(_Body, _TrainingFields):
    """`task_id`: the new task's id (generated when absent). The files are those of an earlier
    package: `package_task_id` (default: the newest task that has files). `model_id` overrides the
    configured recognizer for this task."""

    task_id: str | None = Field(default=None, max_length=64)
    package_task_id: str | None = Field(default=None, max_length=64,
                                        validation_alias=AliasChoices("package_task_id", "package_id",
                                                                      "source_task_id"))
    model_id: str | None = Field(default=None, max_length=128)
    task_type: Literal["recognition", "training", "train"] = "recognition"

    def training_overrides(self) -> dict[str, Any]:
        return self.model_dump(include=set(TRAINING_FIELDS), exclude_none=True)


class DatasetIdBody(_Body):
    dataset_id: str = _ID


class ModelIdBody(_Body):
    model_id: str = _ID


class ParametersBody(_TrainingFields):
    """Recognizer (model_id, conf, iou) and training parameters; unknown names are refused."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, protected_namespaces=(),
                              populate_by_name=True)

    model_id: str | None = Field(default=None, min_length=1, max_length=128,
                                 description="recognizer: 'ocr' (default) or a registered model id")
    conf: float | None = Field(default=None, ge=0, le=1)
    iou: float | None = Field(default=None, ge=0, le=1)

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("batch must be -1 (automatic) or at least 1")
        return value
