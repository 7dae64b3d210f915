"""Segmentation datasets: YOLO-seg polygons, COCO polygons and PaddleX label PNGs become versions whose
task type, labels and masks are right."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import datasets as svc
from tests.datagen import (
    make_segmentation_images,
    reader_over,
    write_coco_seg_zip,
    write_coco_zip,
    write_paddlex_seg_zip,
    write_yolo_seg_zip,
    write_yolo_zip,
)


def _prepare(ctx: Platform, archive: Path, **kwargs: object) -> dict:
    up = asyncio.run(svc.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    return svc.prepare(ctx=ctx, dataset_id=up["dataset_id"], **kwargs)


def _polygons(folder: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for p in sorted(folder.rglob("*.txt"))
            for line in p.read_text().splitlines() if line.strip()]


def test_yolo_seg_is_recognised_as_instance_segmentation(ctx: Platform, tmp_path: Path) -> None:
    out = _prepare(ctx, write_yolo_seg_zip(tmp_path / "seg.zip", n=10))
    assert out["task_type"] == "instance_segment" and out["format"] == "yolo-seg"
    assert out["classes"] == ["square", "triangle"]
    info = svc.get_version(ctx=ctx, dataset_id=out["dataset_id"], version="v1")
    assert info.task_type == "instance_segment"
    lines = _polygons(Path(info.root) / "labels")
    assert lines and all(len(v) >= 7 and len(v) % 2 == 1 for v in lines)  # class + >= 3 points
    assert sum(out["class_counts"].values()) == len(lines)
    data = yaml.safe_load(Path(info.data_yaml).read_text())
    assert data["task"] == "segment" and data["names"] == {0: "square", 1: "triangle"}


def test_yolo_seg_read_as_detection_when_asked(ctx: Platform, tmp_path: Path) -> None:
    out = _prepare(ctx, write_yolo_seg_zip(tmp_path / "seg.zip", n=6), task_type="detect")
    assert out["task_type"] == "detect"
    info = svc.get_version(ctx=ctx, dataset_id=out["dataset_id"], version="v1")
    assert all(len(v) == 5 for v in _polygons(Path(info.root) / "labels"))


def test_coco_polygons_become_yolo_seg_polygons(ctx: Platform, tmp_path: Path) -> None:
    archive = write_coco_seg_zip(tmp_path / "coco.zip", n=8, size=128)
    auto = _prepare(ctx, archive)
    assert auto["task_type"] == "detect"  # COCO stays detection unless instance segmentation is asked for
    out = _prepare(ctx, archive, task_type="instance_segment")
    assert out["task_type"] == "instance_segment" and out["format"] == "coco"
    info = svc.get_version(ctx=ctx, dataset_id=out["dataset_id"], version="v1")
    expected = make_segmentation_images(8, 128, 0, ("square", "triangle"))
    assert len(_polygons(Path(info.root) / "labels")) == sum(len(s) for _i, s, _m in expected)
    # a triangle keeps its 3 points, normalised
    assert any(len(v) == 7 for v in _polygons(Path(info.root) / "labels"))
    assert all(0 <= x <= 1 for v in _polygons(Path(info.root) / "labels") for x in v[1:])


def test_instance_segmentation_of_box_only_data_is_refused(ctx: Platform, tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="polygon"):
        _prepare(ctx, write_coco_zip(tmp_path / "boxes.zip", n=4), task_type="instance_segment")
    with pytest.raises(Invalid, match="instance segmentation"):
        _prepare(ctx, write_yolo_zip(tmp_path / "yolo.zip", n=4), task_type="instance_segment")
    with pytest.raises(Invalid, match="semantic segmentation"):
        _prepare(ctx, write_yolo_zip(tmp_path / "yolo2.zip", n=4), task_type="semantic_segment")
    with pytest.raises(Invalid, match="unknown task type"):
        _prepare(ctx, write_yolo_zip(tmp_path / "yolo3.zip", n=4), task_type="panoptic")


def test_paddlex_semantic_layout_with_lists(ctx: Platform, tmp_path: Path) -> None:
    out = _prepare(ctx, write_paddlex_seg_zip(tmp_path / "px.zip", n=12))
    assert out["task_type"] == "semantic_segment" and out["format"] == "paddlex-seg"
    assert out["classes"] == ["background", "square", "triangle"]
    assert (out["train_count"], out["val_count"]) == (9, 3)  # the list files' split is kept
    info = svc.get_version(ctx=ctx, dataset_id=out["dataset_id"], version="v1")
    root = Path(info.root)
    data = yaml.safe_load(Path(info.data_yaml).read_text())
    assert data["task"] == "semantic_segment" and data["masks"] == "masks" and data["ignore_index"] == 255
    expected = make_segmentation_images(12, 128, 0, ("square", "triangle"))
    mask = np.asarray(Image.open(root / "masks" / "val" / "img0000.png"))
    assert mask.dtype == np.uint8 and np.array_equal(mask, expected[0][2])
    assert len(list((root / "images" / "train").iterdir())) == 9


def test_semantic_without_lists_or_labels_txt(ctx: Platform, tmp_path: Path) -> None:
    src = write_paddlex_seg_zip(tmp_path / "px.zip", n=8, lists=False)
    stripped = tmp_path / "nolabels.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(stripped, "w") as zout:
        for name in zin.namelist():
            if name != "labels.txt":
                zout.writestr(name, zin.read(name))
    out = _prepare(ctx, stripped, split_ratio={"train": 0.75, "val": 0.25})
    assert out["task_type"] == "semantic_segment"
    assert out["classes"][0] == "class0" and len(out["classes"]) in (2, 3)
    assert out["train_count"] + out["val_count"] == 8


def test_semantic_label_out_of_range_or_wrong_size_is_skipped(ctx: Platform, tmp_path: Path) -> None:
    src = write_paddlex_seg_zip(tmp_path / "px.zip", n=6, lists=False)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "Annotations/img0000.png":
                import io

                buf = io.BytesIO()
                Image.fromarray(np.full((128, 128), 7, np.uint8), "L").save(buf, format="PNG")
                data = buf.getvalue()
            if name == "Annotations/img0001.png":
                import io

                buf = io.BytesIO()
                Image.fromarray(np.zeros((10, 10), np.uint8), "L").save(buf, format="PNG")
                data = buf.getvalue()
            zout.writestr(name, data)
    out = _prepare(ctx, bad, task_type="semantic_segment")
    assert out["skipped"] == 2
    assert out["train_count"] + out["val_count"] == 4
