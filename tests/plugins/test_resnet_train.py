"""ResNet classification trains on two Ray Train workers that split the data, reaches the accuracy
the generated classes allow, and registers weights the serving side loads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from raysight.backend import PredictOptions
from raysight.context import Platform
from raysight.services import datasets, models, training
from raysight_resnet import predict
from raysight_resnet.model import build_resnet
from tests.datagen import make_classify_images, reader_over, write_classify_zip
from tests.training_helpers import assert_job_disk_bounded, make_ctx, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture
def rctx(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    yield from make_ctx(tmp_path, train_cpus_per_worker=1)


def wait(ctx: Platform, job_id: str, timeout: float = 400) -> dict[str, Any]:
    return wait_for(ctx, job_id, timeout=timeout)


def test_build_resnet_has_the_requested_head() -> None:
    net = build_resnet("resnet34.pth", 7)
    assert net.fc.out_features == 7
    with pytest.raises(ValueError):
        build_resnet("vgg16", 2)


def test_resnet_trains_on_two_workers(rctx: Platform, tmp_path: Path) -> None:
    archive = write_classify_zip(tmp_path / "cls.zip", 24, size=64)
    ds = asyncio.run(datasets.upload(ctx=rctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    prepared = datasets.prepare(ctx=rctx, dataset_id=ds["dataset_id"])
    out = training.create_job(ctx=rctx, dataset_id=ds["dataset_id"], model_name="resnet18", epochs=4, imgsz=64,
                              batch=16, params={"num_workers": 2})
    job = wait(rctx, out["job_id"])
    assert job["status"] == "completed", job
    assert [h["epoch"] for h in job["history"]] == [1, 2, 3, 4] and job["checkpoint_epoch"] == 4
    # 4 epoch checkpoints and the final one were reported: the default 2 stay, no temporary copies
    assert len(assert_job_disk_bounded(rctx, out["job_id"])) == 2
    assert {"loss", "val_loss", "accuracy"} <= set(job["history"][-1])
    log_text = Path(job["log_file"]).read_text()
    shares = {int(r): int(n) for r, n in re.findall(r"worker (\d)/2: (\d+) training images", log_text)}
    assert set(shares) == {0, 1}, log_text
    assert shares[0] + shares[1] in (prepared["train_count"], prepared["train_count"] + 1)  # DistributedSampler pads
    assert "batch 8 per worker x 2" in log_text

    model = models.get(ctx=rctx, model_id=job["model_id"])
    assert model["metrics"]["accuracy"] >= 0.8 and set(model["metrics"]) == {"accuracy", "loss"}
    assert sorted(model["classes"]) == ["circle", "square", "triangle"] and model["task_type"] == "classify"
    assert model["pretrained"] is False and model["weights_path"].endswith("weights/best.pth")
    assert {p.rsplit("/", 1)[1] for p in model["plots"]} == {"results.png", "confusion_matrix.png"}
    saved = torch.load(model["weights_path"], map_location="cpu", weights_only=False)
    assert set(saved) == {"arch", "classes", "state_dict", "imgsz"} and saved["arch"] == "resnet18"

    # the serving side loads the weights and classifies fresh images of the same classes
    loaded = predict.load(models.model_ref(ctx=rctx, model_id=model["model_id"]), device="cpu")
    fresh = make_classify_images(5, size=64, seed=99)
    images = [np.asarray(im) for name in model["classes"] for im in fresh[name]]
    truth = [name for name in model["classes"] for _ in fresh[name]]
    got = [dets[0].class_name for dets in predict.predict(loaded, images, PredictOptions())]
    assert np.mean([g == t for g, t in zip(got, truth, strict=True)]) >= 0.8
