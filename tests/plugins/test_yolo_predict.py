"""raysight_yolo.predict: load registered weights, predict a batch of RGB images."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raysight.backend import Detection, ModelRef, PredictOptions
from raysight.errors import NotFound
from raysight_yolo import cpu_runtime, predict
from tests.model_ops_helpers import Trained


@pytest.fixture(scope="module")
def fresh_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained YOLOv8n (architecture from its yaml, fresh weights) saved as a .pt."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "fresh.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def test_load_and_predict_structure(fresh_weights: Path) -> None:
    model = predict.load(ModelRef("m1", str(fresh_weights), classes=[]), device="cpu")
    images = [np.zeros((96, 128, 3), np.uint8), np.full((50, 70, 3), 255, np.uint8)]
    out = predict.predict(model, images, PredictOptions(conf=0.0, imgsz=128, extra={"max_det": 5}))
    assert len(out) == 2
    for dets in out:
        assert len(dets) <= 5
        for det in dets:
            assert isinstance(det, Detection)
            d = det.as_dict()
            assert set(d) == {"class_id", "class_name", "confidence", "bbox"}
            assert 0.0 <= d["confidence"] <= 1.0
    assert predict.predict(model, [], PredictOptions()) == []


def test_registry_classes_name_the_outputs(fresh_weights: Path) -> None:
    names = [f"c{i}" for i in range(80)]
    model = predict.load(ModelRef("m1", str(fresh_weights), classes=names), device="cpu")
    assert model.names[3] == "c3"


def test_missing_weights_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        predict.load(ModelRef("m1", str(tmp_path / "nope.pt")), device="cpu")


def test_a_cpu_detector_predicts_through_onnxruntime_with_pytorchs_answers(
        trained_yolo_files: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same weights, same images: the onnxruntime twin finds the boxes PyTorch finds (and the true ones)."""
    from tests.datagen import make_detection_images

    ref = ModelRef("m1", str(trained_yolo_files.weights), classes=trained_yolo_files.classes)
    fast = predict.load(ref, device="cpu")
    assert fast.twin is not None and fast.extra["runtime"]["runtime"] == cpu_runtime.ONNXRUNTIME
    assert fast.extra["runtime"]["max_rel_diff"] <= 1e-3
    monkeypatch.setenv(cpu_runtime.RUNTIME_ENV, "torch")
    plain = predict.load(ref, device="cpu")
    assert plain.twin is None and plain.extra["runtime"] == {"runtime": cpu_runtime.TORCH}
    samples = make_detection_images(6, size=128, seed=11, classes=trained_yolo_files.classes)
    images = [np.asarray(im.convert("RGB")) for im, _ in samples]
    opts = PredictOptions(conf=0.25, imgsz=128)
    found = 0
    for got, expected, (_, truth) in zip(predict.predict(fast, images, opts), predict.predict(plain, images, opts),
                                         samples, strict=True):
        assert len(got) == len(expected)
        for g, e in zip(sorted(got, key=_box), sorted(expected, key=_box), strict=True):
            assert g.class_id == e.class_id and abs(g.confidence - e.confidence) < 0.01
            assert max(abs(a - b) for a, b in zip(_box(g), _box(e), strict=True)) < 1.0
        found += len(truth) == len(got)
    assert found >= 4  # the model is trained: most images get exactly their objects
    folder = fast.twin.path.parent
    assert folder.name.startswith(f"{os.getpid()}_")  # the replica's own folder, swept once it is gone
    del fast
    gc.collect()
    assert not folder.exists()  # the exported file goes with the model


def test_a_twin_that_fails_the_parity_check_stays_on_pytorch(fresh_weights: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from raysight_yolo import export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no output can pass
    model = predict.load(ModelRef("m1", str(fresh_weights), classes=[]), device="cpu")
    assert model.twin is None
    assert model.extra["runtime"]["runtime"] == cpu_runtime.TORCH
    assert "differs from PyTorch" in model.extra["runtime"]["reason"]
    out = predict.predict(model, [np.zeros((64, 64, 3), np.uint8)], PredictOptions(conf=0.0, imgsz=64))
    assert len(out) == 1 and all(isinstance(d, Detection) for d in out[0])


def test_the_exported_files_of_killed_replicas_are_removed_by_the_next_twin(tmp_path: Path) -> None:
    """A replica killed before its twin is collected leaves its folder; the next one removes it (only it)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = tmp_path / f"{gone.stdout.strip()}_abc"
    live = tmp_path / f"{os.getpid()}_def"
    other = tmp_path / "notes"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "source.onnx").write_bytes(b"x")
    assert cpu_runtime.sweep_orphans(tmp_path) == [dead]
    assert not dead.exists() and live.is_dir() and other.is_dir()
    made = cpu_runtime.twin_folder()
    assert made.parent.name == f"raysight_yolo_ort-{os.getuid()}" and made.name.startswith(f"{os.getpid()}_")
    made.rmdir()


def _box(det: Detection) -> tuple[float, float, float, float]:
    return (det.x1, det.y1, det.x2, det.y2)
