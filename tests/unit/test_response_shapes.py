"""The native API's response models are the source of the JSON shapes (OpenAPI documents them); the
services' record dicts carry exactly their fields, so that neither side grows a field alone."""

from __future__ import annotations

from raysight.api.native.models import ModelInfo
from raysight.api.native.train import Job
from raysight.services import models, training
from raysight.store.models import Model, TrainJob


def test_job_record_is_the_job_model() -> None:
    record = training.as_dict(TrainJob(id="job_x", dataset_id="ds", version="v1", model_name="m", plugin="yolo",
                                       task_type="detect", epochs=1, imgsz=64, batch=1, status="queued"))
    assert [*record, "queue_reason"] == list(Job.model_fields)  # queue_reason: added by list/get


def test_model_record_is_the_model_info_model() -> None:
    record = models.as_dict(Model(id="model_x", name="m", description="", weights_path="w.pt", file_size=0,
                                  plugin="yolo", task_type="detect"))
    assert list(record) == list(ModelInfo.model_fields)
