"""Weights of the two segmentation families: checked without running anything, refused when they do
not fit; the yolo_seg gate accepts SegmentationModel only where a segmentation checkpoint is expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from raysight.backend import ModelRef, PredictOptions
from raysight.errors import InvalidWeights
from raysight_semseg.backend import SemsegBackend
from raysight_semseg.model import build, save_weights
from raysight_yolo.backend import YoloBackend, YoloSegBackend


@pytest.fixture(scope="module")
def yolo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh YOLOv8n-seg and YOLOv8n as the checkpoints ultralytics writes."""
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel

    folder = tmp_path_factory.mktemp("yolo")
    seg = SegmentationModel("yolov8n-seg.yaml", nc=2, verbose=False).eval()  # as ultralytics saves it
    seg.names = {0: "square", 1: "triangle"}
    det = DetectionModel("yolov8n.yaml", nc=2, verbose=False)
    torch.save({"model": seg, "epoch": -1}, folder / "seg.pt")
    torch.save({"model": det, "epoch": -1}, folder / "det.pt")
    return {"seg": folder / "seg.pt", "det": folder / "det.pt"}


def test_yolo_seg_weights_are_checked_and_served(yolo_files: dict[str, Path]) -> None:
    info = YoloSegBackend().check_weights(yolo_files["seg"])
    assert (info.family, info.arch, info.model_name) == ("yolo_seg", "yolov8n-seg", "yolov8n-seg.pt")
    assert info.classes == ["square", "triangle"] and info.num_classes == 2
    with pytest.raises(InvalidWeights, match="not a yolov8s-seg"):
        YoloSegBackend().check_weights(yolo_files["seg"], arch="yolov8s-seg.pt")
    backend = YoloSegBackend()
    model = backend.load(ModelRef("m", str(yolo_files["seg"]), ["square", "triangle"], {"imgsz": 64}), device="cpu")
    out = backend.predict(model, [np.zeros((64, 80, 3), np.uint8)], PredictOptions(conf=0.0, extra={"max_det": 3}))
    assert len(out) == 1 and len(out[0]) <= 3
    for det in out[0]:
        d = det.as_dict()
        assert {"polygon", "mask_area"} <= set(d) and isinstance(d["polygon"], list)


def test_each_family_refuses_the_others_checkpoint(yolo_files: dict[str, Path]) -> None:
    with pytest.raises(InvalidWeights, match="SegmentationModel"):  # refused by the allow-list, nothing run
        YoloBackend().check_weights(yolo_files["seg"])
    with pytest.raises(InvalidWeights, match="no ultralytics segmentation model"):
        YoloSegBackend().check_weights(yolo_files["det"])


def test_semseg_weights_checked_by_keys_and_shapes(tmp_path: Path) -> None:
    net = build("lraspp_mobilenet_v3_large", 3)
    save_weights(tmp_path / "m.pth", arch="lraspp_mobilenet_v3_large", classes=["bg", "a", "b"],
                 state_dict=net.state_dict(), imgsz=64)
    info = SemsegBackend().check_weights(tmp_path / "m.pth")
    assert (info.arch, info.num_classes, info.classes, info.params) == (
        "lraspp_mobilenet_v3_large", 3, ["bg", "a", "b"], {"imgsz": 64})
    torch.save(net.state_dict(), tmp_path / "bare.pth")  # a bare torchvision state dict: its keys name the arch
    assert SemsegBackend().check_weights(tmp_path / "bare.pth").format == "torchvision state dict"
    state = dict(net.state_dict())
    state["classifier.low_classifier.weight"] = torch.zeros(3, 7, 1, 1)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(InvalidWeights, match="does not fit"):
        SemsegBackend().check_weights(tmp_path / "odd.pth")
    with pytest.raises(InvalidWeights):
        SemsegBackend().check_weights(tmp_path / "m.pth", arch="deeplabv3_mobilenet_v3_large")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(InvalidWeights):
        SemsegBackend().check_weights(tmp_path / "text.pth")


def test_semseg_predict_shape(tmp_path: Path) -> None:
    net = build("lraspp_mobilenet_v3_large", 2)
    save_weights(tmp_path / "m.pth", arch="lraspp_mobilenet_v3_large", classes=["background", "thing"],
                 state_dict=net.state_dict(), imgsz=64)
    backend = SemsegBackend()
    model = backend.load(ModelRef("m", str(tmp_path / "m.pth")), device="cpu")
    out = backend.predict(model, [np.zeros((50, 70, 3), np.uint8)] * 2, PredictOptions(conf=0.0))
    assert len(out) == 2
    for det in out[0]:
        assert det.class_name == "thing" and 0 < det.extra["mask_area"] <= 50 * 70
        assert 0 <= det.x1 < det.x2 <= 70 and 0 <= det.y1 < det.y2 <= 50
