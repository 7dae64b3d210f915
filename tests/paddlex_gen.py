"""Server folders for the PaddleX dialect's import tests: the generated shapes written as plain folders
(VOC: JPEGImages + Annotations; class folders) the way a PaddleX user points the server at them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.datagen import write_classify_zip, write_voc_zip


def voc_folder(root: Path, n: int = 24, size: int = 128) -> Path:
    """A Pascal VOC folder of `n` generated images with two classes of shapes."""
    archive = write_voc_zip(root.parent / f"{root.name}.zip", n, size=size)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root)
    archive.unlink()
    return root


def class_folders(root: Path, per_class: int = 10) -> Path:
    """Class folders (square/, circle/, triangle/) of generated 64 px images."""
    archive = write_classify_zip(root.parent / f"{root.name}.zip", per_class)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root)
    archive.unlink()
    return root


def _unzip(archive: Path, root: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root)
    archive.unlink()
    return root


def seg_folder(root: Path, kind: str, n: int = 24, size: int = 128) -> Path:
    """`semantic`: the PaddleX layout (JPEGImages + label PNGs + labels.txt); `instance`: YOLO-seg polygons."""
    from tests.datagen import write_paddlex_seg_zip, write_yolo_seg_zip

    archive = root.parent / f"{root.name}.zip"
    if kind == "semantic":
        return _unzip(write_paddlex_seg_zip(archive, n, size=size, lists=False), root)
    return _unzip(write_yolo_seg_zip(archive, n, size=size), root)
