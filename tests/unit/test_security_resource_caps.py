"""Issue 9 row 7: resource bombs. Pixels per image on every decode path (imgseg included), video
frame size and count, data.yaml size / aliases / class count, and the uploads/ retention sweep."""

from __future__ import annotations

import asyncio
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.errors import Invalid, TooLarge
from raysight.services import datasets, inference, retention, video
from raysight.services.imgseg import sources
from raysight.settings import Settings
from tests.datagen import reader_over, write_yolo_zip

ALIAS_BOMB = "\n".join([
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    *[f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)],
    "names: [*i, *i, *i, *i, *i, *i, *i, *i, *i]",  # 9^10 strings (3.4 billion) once expanded
])


@pytest.fixture
def capped(tmp_path: Path) -> Platform:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", max_image_pixels=1_000_000, video_max_pixels=64 * 48,
                                   video_max_frames=5, data_yaml_max_kb=4, max_classes=10))
    yield ctx
    ctx.close()


def _png(width: int, height: int) -> bytes:
    ok, buf = cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))
    assert ok
    return buf.tobytes()


def test_pixel_cap_on_inference_imgseg_upload_and_imgseg_url(capped: Platform) -> None:
    big = _png(2000, 1000)  # 2 MP in 10 KB: decoding would allocate 6 MB, a real bomb 1000x more
    with pytest.raises(TooLarge, match="RAYSIGHT_MAX_IMAGE_PIXELS"):
        asyncio.run(inference.store_image(ctx=capped, data=big))
    (capped.workspace.uploads / "big.png").write_bytes(big)
    with pytest.raises(TooLarge, match="RAYSIGHT_MAX_IMAGE_PIXELS"):
        asyncio.run(sources.read_url(ctx=capped, url="/uploads/big.png"))
    with TestClient(create_app(capped), raise_server_exceptions=False) as client:
        body = client.post("/ingest", files={"image": ("big.png", big, "image/png")}).json()
    assert body["code"] == -3000 and body["payload"]["err"] == 807
    assert "RAYSIGHT_MAX_IMAGE_PIXELS" in body["payload"]["detail"]
    small = asyncio.run(inference.store_image(ctx=capped, data=_png(1000, 1000)))
    assert small.image.shape == (1000, 1000, 3)


def _dataset(ctx: Platform, tmp_path: Path, extra: dict[str, str | bytes], data_yaml: bool = True) -> str:
    archive = write_yolo_zip(tmp_path / "d.zip", 8, data_yaml=data_yaml)
    with zipfile.ZipFile(archive, "a") as zf:
        for name, content in extra.items():
            zf.writestr(name, content)
    out = asyncio.run(datasets.upload(ctx=ctx, filename="d.zip", read=reader_over(archive.read_bytes())))
    return str(out["dataset_id"])


def test_data_yaml_alias_bomb_is_refused(capped: Platform, tmp_path: Path) -> None:
    ds = _dataset(capped, tmp_path, {"data.yaml": ALIAS_BOMB}, data_yaml=False)
    started = time.monotonic()
    with pytest.raises(Invalid, match="aliases"):
        datasets.prepare(ctx=capped, dataset_id=ds)
    assert time.monotonic() - started < 10


def test_data_yaml_size_and_class_count(capped: Platform, tmp_path: Path) -> None:
    ds = _dataset(capped, tmp_path, {"data.yaml": "names: [a, b]\n" + "#" * 8000}, data_yaml=False)
    with pytest.raises(Invalid, match="RAYSIGHT_DATA_YAML_MAX_KB"):
        datasets.prepare(ctx=capped, dataset_id=ds)
    many = "names: [" + ", ".join(f"c{i}" for i in range(50)) + "]\n"
    ds = _dataset(capped, tmp_path, {"data.yaml": many}, data_yaml=False)
    with pytest.raises(Invalid, match="RAYSIGHT_MAX_CLASSES"):
        datasets.prepare(ctx=capped, dataset_id=ds)
    with pytest.raises(Exception, match="RAYSIGHT_MAX_CLASSES"):
        datasets.prepare(ctx=capped, dataset_id=ds, classes=[f"c{i}" for i in range(50)])


def test_dataset_images_over_the_pixel_cap_are_skipped(capped: Platform, tmp_path: Path) -> None:
    ds = _dataset(capped, tmp_path, {"images/huge.png": _png(1500, 1000), "labels/huge.txt": ""})
    out = datasets.prepare(ctx=capped, dataset_id=ds)
    assert out["skipped"] == 1 and out["train_count"] + out["val_count"] == 8


def _video(path: Path, frames: int, size: tuple[int, int]) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 10 % 255, np.uint8))
    writer.release()
    return path.read_bytes()


def _open(ctx: Platform, data: bytes) -> video.VideoSource:
    return asyncio.run(video.open_video(ctx=ctx, read=reader_over(data), filename="v.mp4"))


def test_video_frame_size_and_count(capped: Platform, tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match="RAYSIGHT_VIDEO_MAX_PIXELS"):
        _open(capped, _video(tmp_path / "big.mp4", 3, (128, 96)))
    with pytest.raises(TooLarge, match="RAYSIGHT_VIDEO_MAX_FRAMES"):
        _open(capped, _video(tmp_path / "long.mp4", 12, (64, 48)))
    source = _open(capped, _video(tmp_path / "ok.mp4", 5, (64, 48)))
    try:
        assert len(list(source.frames())) == 5
        source.frame_count = 0  # a container that does not say: counted while decoding
        source.max_frames = 3
        with pytest.raises(TooLarge, match="more than 3 frames"):
            list(source.frames())
    finally:
        source.remove()


def test_uploads_retention_sweep(capped: Platform) -> None:
    uploads = capped.workspace.uploads
    old, new = uploads / "infer_old.png", uploads / "infer_new.png"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    assert retention.maybe_sweep_uploads(ctx=capped) == 1
    assert not old.exists() and new.exists()
    os.utime(new, (week_ago, week_ago))
    assert retention.maybe_sweep_uploads(ctx=capped) == 0  # at most hourly
    keep: dict[str, Any] = {"uploads_retention_h": 0}
    assert retention.sweep_uploads(ctx=Platform(capped.settings.model_copy(update=keep), capped.db,
                                                capped.workspace, capped.plugins)) == 0
    assert retention.sweep_uploads(ctx=capped) == 1
