"""Both segmentation families train for real on Ray Train (generated shapes with masks), register
their models, predict masks that overlap the true shapes, evaluate better than an untrained model, and
export to ONNX that onnxruntime runs with the PyTorch model's outputs (and metrics).

The trained models are session fixtures shared by the tests of this module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from raysight.backend import ModelRef, PredictOptions
from raysight.context import Platform
from raysight.model_ops import EvalData, EvalOptions, ExportFormat
from raysight.services import datasets, models, training
from tests.datagen import make_segmentation_images, mask_iou, reader_over, write_paddlex_seg_zip, write_yolo_seg_zip
from tests.training_helpers import make_ctx, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]
CLASSES = ("square", "triangle")
YOLO_FAST = {"nbs": 8, "warmup_epochs": 1, "mosaic": 0.0, "optimizer": "AdamW", "lr0": 0.003, "plots": False}


@pytest.fixture(scope="session")
def seg_ctx(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from make_ctx(tmp_path_factory.mktemp("segws"), train_cpus_per_worker=2)


def _train(ctx: Platform, archive: Path, model_name: str, **job: Any) -> tuple[dict, datasets.VersionInfo, dict]:
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    info = datasets.get_version(ctx=ctx, dataset_id=ds["dataset_id"])
    out = training.create_job(ctx=ctx, dataset_id=ds["dataset_id"], model_name=model_name, **job)
    record = wait_for(ctx, out["job_id"], timeout=600)
    assert record["status"] == "completed", record
    return models.get(ctx=ctx, model_id=record["model_id"]), info, record


@pytest.fixture(scope="session")
def yolo_seg(seg_ctx: Platform, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, datasets.VersionInfo, dict]:
    archive = write_yolo_seg_zip(tmp_path_factory.mktemp("ys") / "shapes.zip", 64, size=128, classes=CLASSES)
    return _train(seg_ctx, archive, "yolov8n-seg.pt", epochs=12, imgsz=128, batch=8, params=YOLO_FAST)


@pytest.fixture(scope="session")
def semseg(seg_ctx: Platform, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, datasets.VersionInfo, dict]:
    archive = write_paddlex_seg_zip(tmp_path_factory.mktemp("ss") / "px.zip", 40, size=64, classes=CLASSES)
    return _train(seg_ctx, archive, "lraspp_mobilenet_v3_large", epochs=8, imgsz=64, batch=8, params={"lr": 0.003})


def _eval_data(info: datasets.VersionInfo) -> EvalData:
    return EvalData(task_type=info.task_type, root=info.root, data_yaml=info.data_yaml, split="val",
                    classes=list(info.classes), dataset_id=info.dataset_id, version=info.version)


def _val_images(info: datasets.VersionInfo) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted((Path(info.root) / "images" / "val").iterdir())]


def _truth(info: datasets.VersionInfo, n: int, size: int) -> dict[str, tuple[list, np.ndarray]]:
    """image file name -> (shapes, class mask) as the generator drew them."""
    samples = make_segmentation_images(n, size, 0, CLASSES)
    return {f"img{i:04d}": (shapes, mask) for i, (_im, shapes, mask) in enumerate(samples)}


def _raster(points: list, size: tuple[int, int]) -> np.ndarray:
    im = Image.new("L", size, 0)
    if len(points) >= 3:
        ImageDraw.Draw(im).polygon([tuple(p) for p in points], fill=1)
    return np.asarray(im).astype(bool)


# -- instance segmentation (yolo_seg) -----------------------------------------------------------------------


def test_yolo_seg_trains_and_registers(yolo_seg: tuple[dict, Any, dict]) -> None:
    model, info, job = yolo_seg
    assert info.task_type == "instance_segment"
    assert model["plugin"] == "yolo_seg" and model["task_type"] == "instance_segment"
    assert model["classes"] == list(CLASSES)
    assert {"seg_loss", "mask_mAP50", "mAP50"} <= set(job["history"][-1])
    assert model["metrics"]["mask_mAP50"] >= 0.5, model["metrics"]


def test_yolo_seg_masks_overlap_the_true_shapes(seg_ctx: Platform, yolo_seg: tuple[dict, Any, dict]) -> None:
    model, info, _job = yolo_seg
    from raysight_yolo.backend import YoloSegBackend

    backend = YoloSegBackend()
    loaded = backend.load(models.model_ref(ctx=seg_ctx, model_id=model["model_id"]), device="cpu")
    names = [p.stem for p in sorted((Path(info.root) / "images" / "val").iterdir())]
    truth = _truth(info, 64, 128)
    ious = []
    for name, dets in zip(names, backend.predict(loaded, _val_images(info), PredictOptions(conf=0.25)), strict=True):
        for cls, poly in truth[name][0]:
            true = _raster(poly, (128, 128))
            same = [mask_iou(true, _raster(d.extra["polygon"], (128, 128))) for d in dets if d.class_id == cls]
            ious.append(max(same, default=0.0))
    assert ious and float(np.mean(ious)) >= 0.6, ious


def test_yolo_seg_evaluates_and_exports(yolo_seg: tuple[dict, Any, dict], seg_ctx: Platform,
                                        tmp_path: Path) -> None:
    from ultralytics.nn.tasks import SegmentationModel

    from raysight_yolo.backend import YoloSegBackend

    model, info, _job = yolo_seg
    backend = YoloSegBackend()
    ref = models.model_ref(ctx=seg_ctx, model_id=model["model_id"])
    report = backend.evaluate(ref, data=_eval_data(info), options=EvalOptions(batch=8))
    assert report.task == "instance_segment" and report.n_images == info.val_count
    assert all(0.0 <= v <= 1.0 for v in report.metrics.values())
    assert report.metrics["mAP50"] >= 0.5 and report.metrics["mAP50-95"] <= report.metrics["mAP50"]
    assert [c.name for c in report.per_class] == list(CLASSES)
    assert sum(c.support for c in report.per_class) > 0 and "ap50" in report.per_class[0].values
    untrained = SegmentationModel("yolov8n-seg.yaml", nc=2, verbose=False).eval()
    import torch

    torch.save({"model": untrained, "epoch": -1}, tmp_path / "untrained.pt")
    base = backend.evaluate(ModelRef("untrained", str(tmp_path / "untrained.pt"), list(CLASSES), {"imgsz": 128}),
                            data=_eval_data(info), options=EvalOptions(batch=8))
    assert report.metrics["mAP50"] > base.metrics["mAP50"] + 0.3

    exported = backend.export(ref, fmt=ExportFormat.ONNX, output_dir=tmp_path / "onnx")
    assert exported.parity["ok"] and exported.parity["max_rel_diff"] <= 1e-3
    assert Path(exported.path).is_file() and exported.input_shape == [1, 3, 128, 128]
    onnx_report = backend.evaluate(ModelRef(ref.model_id, exported.path, list(CLASSES), {"imgsz": 128}),
                                   data=_eval_data(info), options=EvalOptions(batch=8))
    assert abs(onnx_report.metrics["mAP50"] - report.metrics["mAP50"]) <= 0.05
    int8 = backend.export(ref, fmt=ExportFormat.ONNX_INT8, output_dir=tmp_path / "int8", calibration=_eval_data(info))
    assert int8.quantization["mode"] in ("static", "dynamic") and int8.size_bytes < exported.size_bytes
    int8_report = backend.evaluate(ModelRef(ref.model_id, int8.path, list(CLASSES), {"imgsz": 128}),
                                   data=_eval_data(info), options=EvalOptions(batch=8))
    assert 0.0 <= int8_report.metrics["mAP50"] <= 1.0


# -- semantic segmentation (semseg) ---------------------------------------------------------------------------


def test_semseg_trains_and_registers(semseg: tuple[dict, Any, dict]) -> None:
    model, info, job = semseg
    assert info.task_type == "semantic_segment"
    assert model["plugin"] == "semseg" and model["task_type"] == "semantic_segment"
    assert model["classes"] == ["background", *CLASSES]
    assert {"loss", "val_loss", "mIoU", "pixel_accuracy", "iou/square"} <= set(job["history"][-1])
    assert [h["epoch"] for h in job["history"]] == list(range(1, 9))
    assert model["metrics"]["mIoU"] >= 0.5, model["metrics"]


def test_semseg_masks_overlap_the_true_shapes(seg_ctx: Platform, semseg: tuple[dict, Any, dict]) -> None:
    model, info, _job = semseg
    from raysight_semseg.backend import SemsegBackend

    backend = SemsegBackend()
    loaded = backend.load(models.model_ref(ctx=seg_ctx, model_id=model["model_id"]), device="cpu")
    names = [p.stem for p in sorted((Path(info.root) / "images" / "val").iterdir())]
    truth = _truth(info, 40, 64)
    ious = []
    for name, dets in zip(names, backend.predict(loaded, _val_images(info), PredictOptions(conf=0.0)), strict=True):
        mask = truth[name][1]
        for cls in (1, 2):
            if not (mask == cls).any():
                continue
            predicted = np.zeros_like(mask, dtype=bool)
            for det in (d for d in dets if d.class_id == cls):
                for poly in det.extra["polygons"]:
                    predicted |= _raster(poly, (64, 64))
            ious.append(mask_iou(mask == cls, predicted))
    assert ious and float(np.mean(ious)) >= 0.5, ious


def test_semseg_evaluates_and_exports(semseg: tuple[dict, Any, dict], seg_ctx: Platform, tmp_path: Path) -> None:
    from raysight_semseg.backend import SemsegBackend
    from raysight_semseg.model import build, save_weights

    model, info, _job = semseg
    backend = SemsegBackend()
    ref = models.model_ref(ctx=seg_ctx, model_id=model["model_id"])
    report = backend.evaluate(ref, data=_eval_data(info), options=EvalOptions(batch=8))
    assert report.task == "semantic_segment" and report.n_images == info.val_count
    assert all(0.0 <= v <= 1.0 for v in report.metrics.values())
    assert [c.name for c in report.per_class] == ["background", *CLASSES]
    assert report.metrics["mIoU"] >= 0.5 and report.metrics["pixel_accuracy"] >= 0.9
    assert len(report.confusion) == 3 and sum(map(sum, report.confusion)) == info.val_count * 64 * 64
    save_weights(tmp_path / "untrained.pth", arch="lraspp_mobilenet_v3_large", classes=["background", *CLASSES],
                 state_dict=build("lraspp_mobilenet_v3_large", 3).state_dict(), imgsz=64)
    base = backend.evaluate(ModelRef("untrained", str(tmp_path / "untrained.pth")), data=_eval_data(info),
                            options=EvalOptions(batch=8))
    assert report.metrics["mIoU"] > base.metrics["mIoU"] + 0.2

    exported = backend.export(ref, fmt=ExportFormat.ONNX, output_dir=tmp_path / "onnx")
    assert exported.parity["ok"] and exported.parity["same_labels"] >= 0.99
    onnx_report = backend.evaluate(ModelRef(ref.model_id, exported.path, list(model["classes"]), {"imgsz": 64}),
                                   data=_eval_data(info), options=EvalOptions(batch=8))
    assert abs(onnx_report.metrics["mIoU"] - report.metrics["mIoU"]) <= 0.01
    int8 = backend.export(ref, fmt=ExportFormat.ONNX_INT8, output_dir=tmp_path / "int8", calibration=_eval_data(info))
    assert int8.quantization["mode"] == "static" and int8.size_bytes < exported.size_bytes
    int8_report = backend.evaluate(ModelRef(ref.model_id, int8.path, list(model["classes"]), {"imgsz": 64}),
                                   data=_eval_data(info), options=EvalOptions(batch=8))
    assert report.metrics["mIoU"] - int8_report.metrics["mIoU"] <= 0.2, int8_report.metrics


def test_semseg_stop_and_resume_continue_the_epoch_count(seg_ctx: Platform, tmp_path: Path) -> None:
    from tests.training_helpers import ended

    archive = write_paddlex_seg_zip(tmp_path / "px.zip", 16, size=64, classes=CLASSES)
    ds = asyncio.run(datasets.upload(ctx=seg_ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=seg_ctx, dataset_id=ds["dataset_id"])
    job_id = training.create_job(ctx=seg_ctx, dataset_id=ds["dataset_id"], model_name="lraspp_mobilenet_v3_large",
                                 epochs=5, imgsz=64, batch=4, params={"plots": False})["job_id"]
    wait_for(seg_ctx, job_id, lambda j: j["epoch"] >= 2 or ended(j), timeout=400)
    assert training.stop_job(ctx=seg_ctx, job_id=job_id)["ok"] is True
    job = training.get_job(ctx=seg_ctx, job_id=job_id)
    kept = job["checkpoint_epoch"]
    assert job["status"] == "stopped" and kept is not None and 1 <= kept < 5
    assert training.resume_job(ctx=seg_ctx, job_id=job_id)["ok"] is True
    job = wait_for(seg_ctx, job_id, ended, timeout=400)
    assert job["status"] == "completed", job
    assert [h["epoch"] for h in job["history"]] == list(range(1, 6)) and job["model_id"]
    after = Path(job["log_file"]).read_text().split(f"Resuming from the checkpoint of epoch {kept}", 1)[1]
    assert f"Epoch {kept + 1}/5 " in after and f"Epoch {kept}/5 " not in after
