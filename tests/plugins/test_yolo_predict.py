"""raysight_yolo.predict: load registered weights, predict a batch of RGB images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raysight.backend import Detection, ModelRef, PredictOptions
from raysight.errors import NotFound
from raysight_yolo import predict


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
