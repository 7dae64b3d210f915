"""raysight_resnet.predict: checkpoints {"arch","classes","state_dict","imgsz"} -> classification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from raysight.backend import ModelRef, PredictOptions
from raysight.errors import NotFound
from raysight_resnet import predict


def save_resnet(path: Path, classes: list[str], *, imgsz: int = 64, bias_to: int | None = None) -> Path:
    """An untrained resnet18 checkpoint in the training side's format; `bias_to` makes one class win."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=len(classes))
    if bias_to is not None:
        with torch.no_grad():
            net.fc.weight.zero_()
            net.fc.bias.fill_(-5.0)
            net.fc.bias[bias_to] = 5.0
    torch.save({"arch": "resnet18", "classes": classes, "state_dict": net.state_dict(), "imgsz": imgsz}, path)
    return path


def test_classification_in_detection_shape(tmp_path: Path) -> None:
    weights = save_resnet(tmp_path / "r.pth", ["cat", "dog", "bird"], bias_to=1)
    model = predict.load(ModelRef("r1", str(weights)), device="cpu")
    images = [np.zeros((40, 60, 3), np.uint8), np.full((30, 20, 3), 200, np.uint8)]
    out = predict.predict(model, images, PredictOptions())
    assert len(out) == 2
    for dets, im in zip(out, images, strict=True):
        assert len(dets) == 1
        d = dets[0].as_dict()
        assert d["class_id"] == 1 and d["class_name"] == "dog" and d["confidence"] > 0.9
        assert d["bbox"] == {"x1": 0.0, "y1": 0.0, "x2": float(im.shape[1]), "y2": float(im.shape[0])}


def test_topk_respects_conf(tmp_path: Path) -> None:
    weights = save_resnet(tmp_path / "r.pth", ["a", "b", "c"])
    model = predict.load(ModelRef("r1", str(weights)), device="cpu")
    dets = predict.predict(model, [np.zeros((32, 32, 3), np.uint8)], PredictOptions(conf=0.0, extra={"topk": 3}))[0]
    assert len(dets) == 3
    assert [d.confidence for d in dets] == sorted((d.confidence for d in dets), reverse=True)
    assert abs(sum(d.confidence for d in dets) - 1.0) < 1e-4
    best_only = predict.predict(model, [np.zeros((32, 32, 3), np.uint8)], PredictOptions(conf=1.0, extra={"topk": 3}))
    assert len(best_only[0]) == 1  # the best class is always answered


def test_missing_weights_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        predict.load(ModelRef("r1", str(tmp_path / "none.pth")), device="cpu")
