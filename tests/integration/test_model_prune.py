"""Pruning a trained ResNet end to end on the session Ray cluster: torch-pruning removes channels, the
pruned model is registered, fine-tuned by an ordinary training job (Ray Train) that names its parent,
and the fine-tuned model is smaller, loads without unpickling objects and has its metric measured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raysight.context import Platform
from raysight.services import models, pruning, training
from raysight.services.model_tasks import eval_data
from raysight_resnet.model import read_weights
from tests.model_ops_helpers import Trained, install
from tests.training_helpers import make_ctx

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture
def rctx(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    yield from make_ctx(tmp_path, train_cpus_per_worker=1)


def test_prune_fine_tunes_as_a_training_job(rctx: Platform, trained_resnet_files: Trained) -> None:
    parent = install(rctx, trained_resnet_files)
    data = eval_data(rctx, parent)
    seen: list[float] = []
    result = pruning.prune_model(ctx=rctx, model_id=parent["model_id"], ratio=0.5, groups=["layer3", "layer4"],
                                 epochs=2, batch=8, data=data, task_id="task_prune_test", progress=seen.append,
                                 params={"plots": False})
    assert result["params_after"] < 0.5 * result["params_before"]
    assert result["size_after"] < 0.5 * result["size_before"]
    assert seen[-1] == 1.0

    job = training.get_job(ctx=rctx, job_id=result["job_id"])
    assert job["status"] == "completed" and job["base_model_id"] == result["pruned_model_id"]
    assert job["params"]["pruned_from"] == parent["model_id"] and job["params"]["prune_ratio"] == 0.5
    pruned = models.get(ctx=rctx, model_id=result["pruned_model_id"])
    assert pruned["tags"] == ["pruned"]
    final = models.get(ctx=rctx, model_id=result["model_id"])
    assert final["job_id"] == job["job_id"] and "pruned" in final["tags"]
    assert final["file_size"] == result["size_after"]
    weights = read_weights(final["weights_path"])  # weights_only, structure rebuilt from channel counts
    assert weights.channels is not None
    assert sum(p.numel() for p in weights.build().parameters()) == result["params_after"]
    metric = result["metric"]
    assert metric["name"] == "top1" and metric["parent"] >= 0.8
    assert 0.0 <= metric["pruned"] <= 1.0 and metric["fine_tuned"] >= 0.5


def test_yolo_prune_fine_tunes_the_pruned_structure(rctx: Platform, trained_yolo_files: Trained) -> None:
    """A YOLOv8n pruned in all three groups is fine-tuned by a Ray Train job that trains the pruned model
    itself (ultralytics would rebuild the full one from its yaml): the fine-tuned file has exactly the
    pruned parameter count, loads through the safe loader, and its mAP is reported; it exports to ONNX."""
    from raysight.model_ops import ExportFormat
    from raysight.plugin import count_params
    from raysight.services import exports
    from raysight_yolo.pruned_model import is_pruned
    from raysight_yolo.safe_load import load_checkpoint

    parent = install(rctx, trained_yolo_files)
    data = eval_data(rctx, parent)
    seen: list[float] = []
    result = pruning.prune_model(ctx=rctx, model_id=parent["model_id"], ratio=0.3, groups=None, epochs=2, batch=8,
                                 data=data, task_id="task_prune_yolo", progress=seen.append,
                                 params={"plots": False, "mosaic": 0.0, "warmup_epochs": 0, "lr0": 0.002,
                                         "optimizer": "AdamW"})
    assert result["groups"] == ["backbone", "neck", "head"] and seen[-1] == 1.0
    assert result["params_after"] < 0.75 * result["params_before"]
    assert result["size_after"] < 0.8 * result["size_before"]

    job = training.get_job(ctx=rctx, job_id=result["job_id"])
    assert job["status"] == "completed" and job["base_model_id"] == result["pruned_model_id"]
    assert "Fine-tuning a channel-pruned" in Path(job["log_file"]).read_text()
    final = models.get(ctx=rctx, model_id=result["model_id"])
    assert "pruned" in final["tags"] and final["file_size"] == result["size_after"]
    ckpt = load_checkpoint(final["weights_path"])  # weights_only, ultralytics' classes only
    tuned = ckpt.get("ema") or ckpt["model"]
    assert is_pruned(tuned) and count_params(tuned) == result["params_after"]
    metric = result["metric"]
    assert metric["name"] == "mAP50-95" and metric["parent"] >= 0.3
    assert 0.0 <= metric["pruned"] <= 1.0 and 0.0 <= metric["fine_tuned"] <= 1.0

    onnx = exports.export_model(ctx=rctx, model_id=final["model_id"], fmt=ExportFormat.ONNX, data=data,
                                task_id="task_pruned_onnx", progress=lambda _v: None)
    assert onnx["parity"]["ok"], onnx["parity"]
