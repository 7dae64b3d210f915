"""YOLO trains for real on a Ray Train worker (generated shapes), registers a model with its plots,
and a registered model fine-tunes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.services import datasets, models, training
from tests.datagen import reader_over, write_yolo_zip
from tests.training_helpers import make_ctx, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]
# 51 training images at batch 8: an optimizer step per batch (nbs), short warmup, no mosaic at 128 px
FAST = {"nbs": 8, "warmup_epochs": 1, "mosaic": 0.0}


@pytest.fixture
def rctx(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    """A Platform with a training supervisor attached (its worker gets both cores)."""
    yield from make_ctx(tmp_path, train_cpus_per_worker=2)


def wait(ctx: Platform, job_id: str, timeout: float = 400) -> dict[str, Any]:
    return wait_for(ctx, job_id, timeout=timeout)


def test_yolo_trains_registers_and_fine_tunes(rctx: Platform, tmp_path: Path) -> None:
    archive = write_yolo_zip(tmp_path / "shapes.zip", 64, size=128)
    ds = asyncio.run(datasets.upload(ctx=rctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=rctx, dataset_id=ds["dataset_id"])
    out = training.create_job(ctx=rctx, dataset_id=ds["dataset_id"], model_name="yolov8n.pt", epochs=15,
                              imgsz=128, batch=8, params={"plots": True, **FAST})
    assert out["status"] == "running"
    job = wait(rctx, out["job_id"])
    assert job["status"] == "completed", job
    assert job["epoch"] == 15 and job["checkpoint_epoch"] == 15 and job["pretrained"] is False
    assert [h["epoch"] for h in job["history"]] == list(range(1, 16))
    for key in ("box_loss", "cls_loss", "dfl_loss", "mAP50", "mAP50-95", "precision", "recall"):
        assert key in job["history"][-1], key
    assert job["eta_s"] == 0 and job["completed_at"]

    model = models.get(ctx=rctx, model_id=job["model_id"])
    assert model["metrics"]["mAP50"] >= 0.5, model["metrics"]
    assert set(model["metrics"]) == {"mAP50", "mAP50-95", "precision", "recall"}
    assert model["training_metrics"] == model["metrics"]
    assert model["classes"] == ["square", "circle"] and model["task_type"] == "detect" and model["plugin"] == "yolo"
    assert model["job_id"] == job["job_id"] and model["dataset_id"] == ds["dataset_id"]
    assert model["pretrained"] is False
    weights = Path(model["weights_path"])
    assert weights == rctx.workspace.model_dir(model["model_id"]) / "weights" / "best.pt" and weights.is_file()
    names = {p.rsplit("/", 1)[1] for p in model["plots"]}
    assert {"results.png", "confusion_matrix.png", "BoxPR_curve.png"} <= names
    with TestClient(create_app(rctx)) as client:
        for url in model["plots"]:
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000

    log_text = Path(job["log_file"]).read_text()
    assert "Starting training" in log_text and "Epoch 15/15" in log_text and "mAP50=" in log_text
    # the epochs' lines travel with their (not awaited) progress calls, and keep their order
    epochs = [int(m) for m in re.findall(r"\] Epoch (\d+)/15 ", log_text)]
    assert epochs == list(range(1, 16))
    assert log_text.index("Epoch 15/15 ") < log_text.index("Final metrics:") < log_text.index("Platform overhead")
    # the worker holds 2 CPUs: torch trains on 2 threads (or on ultralytics' own choice where that is more)
    threads = re.search(r"Training on the CPU with (\d+) torch thread", log_text)
    assert threads and int(threads.group(1)) >= 2, threads
    assert "building yolov8n.yaml with fresh weights" in log_text

    # fine-tuning: the registered model's id as model_name starts from its weights
    tuned = training.create_job(ctx=rctx, dataset_id=ds["dataset_id"], model_name=model["model_id"], epochs=1,
                                imgsz=128, batch=8, params={"plots": False, **FAST})
    job2 = wait(rctx, tuned["job_id"])
    assert job2["status"] == "completed", job2
    assert job2["base_model_id"] == model["model_id"] and job2["pretrained"] is True
    assert models.get(ctx=rctx, model_id=job2["model_id"])["pretrained"] is True
    assert f"weights {weights}" in Path(job2["log_file"]).read_text()
