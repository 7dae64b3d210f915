"""Generated source folders for the AutoSele tests: a YOLO folder (images/ labels/ data.yaml) made by
extracting the shared generator's archive into a folder under an import root."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.datagen import write_yolo_zip


def yolo_folder(root: Path, name: str, n: int = 16, *, size: int = 128, seed: int = 0) -> Path:
    """<root>/<name>/ holding `n` generated detection images with YOLO labels and data.yaml."""
    archive = write_yolo_zip(root.parent / f"{name}.zip", n, size=size, seed=seed)
    folder = root / name
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    archive.unlink()
    return folder
