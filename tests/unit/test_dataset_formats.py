from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from raysight.errors import Invalid, Unprocessable
from raysight.services.dataset_formats import Parsed
from raysight.services.dataset_reader import detect_and_parse
from raysight.services.dataset_split import check_ratio, split_items
from tests.datagen import (
    image_bytes,
    make_detection_images,
    write_classify_zip,
    write_coco_zip,
    write_voc_zip,
    write_yolo_zip,
)


def unzip(archive: Path) -> Path:
    raw = archive.with_suffix("")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(raw)
    return raw


def boxes_of(parsed: Parsed) -> int:
    return sum(len(it.labels) for it in parsed.items)


def expected_boxes(n: int, seed: int = 0) -> int:
    return sum(len(s.boxes) for s in make_detection_images(n, seed=seed))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"splits": True}, {"prefix": "my_data"}, {"data_yaml": False, "classes_txt": True}, {"ext": "png"}],
)
def test_yolo_layouts(tmp_path: Path, kwargs: dict) -> None:
    parsed = detect_and_parse(unzip(write_yolo_zip(tmp_path / "y.zip", 8, **kwargs)))
    assert (parsed.format, parsed.task_type) == ("yolo", "detect")
    assert parsed.classes == ["square", "circle"]
    assert len(parsed.items) == 8 and parsed.skipped == 0
    assert boxes_of(parsed) == expected_boxes(8)
    if kwargs.get("splits"):
        assert {it.split for it in parsed.items} == {"train", "val"}


def test_yolo_without_names_gets_numbered_classes(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_yolo_zip(tmp_path / "y.zip", 8, data_yaml=False)))
    assert parsed.classes == ["class0", "class1"]


def test_yolo_ids_must_fit_the_requested_classes(tmp_path: Path) -> None:
    raw = unzip(write_yolo_zip(tmp_path / "y.zip", 8))
    parsed = detect_and_parse(raw, classes=["only"])
    with_circle = sum(1 for s in make_detection_images(8) if any(b[0] == 1 for b in s.boxes))
    assert parsed.classes == ["only"]
    assert parsed.skipped == with_circle and len(parsed.items) == 8 - with_circle


def test_yolo_bad_items_are_skipped_and_counted(tmp_path: Path) -> None:
    raw = unzip(write_yolo_zip(tmp_path / "y.zip", 6))
    (raw / "images" / "img0000.jpg").write_bytes(b"not an image")
    (raw / "labels" / "img0001.txt").write_text("0 0.5 0.5 1.5 0.2\n")  # box outside the image
    (raw / "labels" / "img0002.txt").write_text("7 0.5 0.5 0.2 0.2\n")  # class out of range
    (raw / "labels" / "img0003.txt").write_text("zero 0.5 0.5 0.2 0.2\n")
    parsed = detect_and_parse(raw)
    assert parsed.skipped == 4 and len(parsed.items) == 2
    assert any("cannot be decoded" in p for p in parsed.problems)


def test_coco_maps_category_ids_and_names(tmp_path: Path) -> None:
    raw = unzip(write_coco_zip(tmp_path / "c.zip", 8, category_ids_from=5))
    parsed = detect_and_parse(raw)
    assert (parsed.format, parsed.classes) == ("coco", ["square", "circle"])
    assert boxes_of(parsed) == expected_boxes(8)
    first = make_detection_images(1)[0]
    item = next(it for it in parsed.items if it.image.name == "img0000.jpg")
    assert [lb[0] for lb in item.labels] == [b[0] for b in first.boxes]
    cls, x1, y1, x2, y2 = first.boxes[0]
    assert item.labels[0][1:] == pytest.approx(((x1 + x2) / 256, (y1 + y2) / 256, (x2 - x1) / 128, (y2 - y1) / 128))


def test_coco_requested_classes_map_by_name(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_coco_zip(tmp_path / "c.zip", 8)), classes=["circle", "square", "dog"])
    assert parsed.classes == ["circle", "square", "dog"]
    first = make_detection_images(1)[0]
    item = next(it for it in parsed.items if it.image.name == "img0000.jpg")
    assert [lb[0] for lb in item.labels] == [1 - b[0] for b in first.boxes]


def test_coco_missing_image_is_skipped(tmp_path: Path) -> None:
    raw = unzip(write_coco_zip(tmp_path / "c.zip", 4))
    (raw / "images" / "img0001.jpg").unlink()
    parsed = detect_and_parse(raw)
    assert parsed.skipped == 1 and len(parsed.items) == 3


@pytest.mark.parametrize("beside", [False, True])
def test_voc(tmp_path: Path, beside: bool) -> None:
    parsed = detect_and_parse(unzip(write_voc_zip(tmp_path / "v.zip", 8, beside=beside)))
    assert (parsed.format, parsed.task_type) == ("voc", "detect")
    assert parsed.classes == ["circle", "square"]  # sorted names when the request gives none
    assert boxes_of(parsed) == expected_boxes(8) and parsed.skipped == 0


@pytest.mark.parametrize("splits", [False, True])
def test_class_folders(tmp_path: Path, splits: bool) -> None:
    parsed = detect_and_parse(unzip(write_classify_zip(tmp_path / "k.zip", 5, splits=splits, prefix="top")))
    assert (parsed.format, parsed.task_type) == ("classify", "classify")
    assert parsed.classes == ["circle", "square", "triangle"]
    assert len(parsed.items) == 15
    assert {parsed.classes[it.class_index] for it in parsed.items} == set(parsed.classes)


def test_images_without_labels_are_unlabelled_detection(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "images"
    raw.mkdir(parents=True)
    for i, (image, _boxes) in enumerate(make_detection_images(3)):
        (raw / f"p{i}.jpg").write_bytes(image_bytes(image))
    parsed = detect_and_parse(tmp_path / "raw", classes=["square"])
    assert (parsed.format, parsed.task_type, parsed.classes) == ("yolo", "detect", ["square"])
    assert len(parsed.items) == 3 and boxes_of(parsed) == 0


def test_no_images_is_a_clear_error(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "notes.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(Invalid, match="no images"):
        detect_and_parse(raw)


# -- ratios and splits -------------------------------------------------------------------------------


def test_default_ratio() -> None:
    assert check_ratio(None) == {"train": 0.8, "val": 0.2}
    assert check_ratio({"train": 0.7, "val": 0.2, "test": 0.1}) == {"train": 0.7, "val": 0.2, "test": 0.1}


@pytest.mark.parametrize(
    "ratio",
    [{"train": 0.9, "val": 0.2}, {"train": 1.2, "val": -0.2}, {"train": 0.5, "dev": 0.5},
     {"train": 0.0, "val": 1.0}, {"train": "a", "val": 0.5}],
)
def test_bad_ratios_are_422(ratio: dict) -> None:
    with pytest.raises(Unprocessable):
        check_ratio(ratio)


def test_split_is_deterministic_and_follows_the_ratio(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_yolo_zip(tmp_path / "y.zip", 20)))
    ratio = check_ratio({"train": 0.7, "val": 0.2, "test": 0.1})
    a = split_items(parsed, ratio=ratio, seed=0, keep_source_splits=False)
    b = split_items(parsed, ratio=ratio, seed=0, keep_source_splits=False)
    c = split_items(parsed, ratio=ratio, seed=1, keep_source_splits=False)
    names = {k: [it.image.name for it in v] for k, v in a.items()}
    assert names == {k: [it.image.name for it in v] for k, v in b.items()}
    assert names != {k: [it.image.name for it in v] for k, v in c.items()}
    assert {k: len(v) for k, v in a.items()} == {"train": 14, "val": 4, "test": 2}
    assert sorted(sum(names.values(), [])) == sorted(it.image.name for it in parsed.items)


def test_tiny_datasets_still_get_a_val_image(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_yolo_zip(tmp_path / "y.zip", 3)))
    parts = split_items(parsed, ratio={"train": 0.9, "val": 0.1}, seed=0, keep_source_splits=False)
    assert (len(parts["train"]), len(parts["val"])) == (2, 1)


def test_classification_split_is_stratified(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_classify_zip(tmp_path / "k.zip", 10)))
    parts = split_items(parsed, ratio={"train": 0.8, "val": 0.2}, seed=0, keep_source_splits=False)
    for cls in range(3):
        assert sum(1 for it in parts["val"] if it.class_index == cls) == 2


def test_source_splits_kept_unless_a_ratio_is_given(tmp_path: Path) -> None:
    parsed = detect_and_parse(unzip(write_yolo_zip(tmp_path / "y.zip", 8, splits=True)))
    kept = split_items(parsed, ratio={"train": 0.5, "val": 0.5}, seed=0, keep_source_splits=True)
    assert (len(kept["train"]), len(kept["val"])) == (6, 2)
    resplit = split_items(parsed, ratio={"train": 0.5, "val": 0.5}, seed=0, keep_source_splits=False)
    assert (len(resplit["train"]), len(resplit["val"])) == (4, 4)
