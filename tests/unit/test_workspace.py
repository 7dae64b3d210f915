from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from raysight.errors import Invalid, NotFound, TooLarge
from raysight.workspace import Workspace, check_id, check_zip, clean_filename, extract_zip, save_stream
from tests.datagen import reader_over, write_evil_zip, write_yolo_zip

LIMITS = {"max_bytes": 100 * 1024 * 1024, "max_files": 5000}


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "..", ".hidden", "a" * 200, "x..y"])
def test_check_id_refuses_path_like_ids(bad: str) -> None:
    with pytest.raises(NotFound):
        check_id(bad, "dataset")


def test_check_id_accepts_generated_ids() -> None:
    assert check_id("ds_20240115_123456_ab12cd") == "ds_20240115_123456_ab12cd"


def test_clean_filename_keeps_only_the_last_safe_component() -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\me\\data set.zip") == "data set.zip"
    assert clean_filename("") == "upload"
    assert clean_filename("..zip") == "zip"


def test_save_stream_writes_and_counts(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "f.bin"
    size = asyncio.run(save_stream(reader_over(b"x" * 3000), dest, max_bytes=5000))
    assert size == 3000 and dest.read_bytes() == b"x" * 3000


def test_save_stream_over_limit_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    with pytest.raises(TooLarge):
        asyncio.run(save_stream(reader_over(b"x" * (3 * 1024 * 1024)), dest, max_bytes=1024 * 1024))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kind", "error"),
    [("dotdot", Invalid), ("absolute", Invalid), ("symlink", Invalid), ("not_zip", Invalid),
     ("too_many", TooLarge), ("too_big", TooLarge)],
)
def test_check_zip_refuses_unsafe_archives(tmp_path: Path, kind: str, error: type[Exception]) -> None:
    archive = write_evil_zip(tmp_path / f"{kind}.zip", kind)
    with pytest.raises(error):
        check_zip(archive, **LIMITS)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "too_big"])
def test_extract_zip_refuses_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    archive = write_evil_zip(tmp_path / f"{kind}.zip", kind)
    dest = tmp_path / "out" / "raw"
    dest.parent.mkdir()
    with pytest.raises((Invalid, TooLarge)):
        extract_zip(archive, dest, **LIMITS)
    assert list(dest.parent.iterdir()) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_extract_zip_extracts_a_good_archive(tmp_path: Path) -> None:
    archive = write_yolo_zip(tmp_path / "y.zip", 3)
    dest = tmp_path / "raw"
    assert extract_zip(archive, dest, **LIMITS) == 7  # 3 images + 3 labels + data.yaml
    assert (dest / "images" / "img0000.jpg").is_file()


def test_extract_zip_over_the_size_budget_leaves_nothing(tmp_path: Path) -> None:
    archive = write_evil_zip(tmp_path / "big.zip", "too_big", big_mb=3)
    with pytest.raises(TooLarge):
        extract_zip(archive, tmp_path / "raw", max_bytes=2 * 1024 * 1024, max_files=10)
    assert not (tmp_path / "raw").exists()


def test_resolve_served_is_confined(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    (ws.datasets / "d" / "v1").mkdir(parents=True)
    (ws.datasets / "d" / "v1" / "a.jpg").write_bytes(b"img")
    (ws.root / "raysight.db").write_bytes(b"db")
    assert ws.resolve_served("datasets/d/v1/a.jpg").read_bytes() == b"img"
    for bad in ("raysight.db", "datasets/../raysight.db", "/etc/passwd", "datasets/d/v1/missing.jpg", "jobs/x"):
        with pytest.raises(NotFound):
            ws.resolve_served(bad)


def test_remove_refuses_outside_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    with pytest.raises(Invalid):
        ws.remove(outside)
    with pytest.raises(Invalid):
        ws.remove(ws.root)
    assert outside.exists()


def test_version_dir_needs_a_version_name(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert ws.version_dir("ds_1", "v2").name == "v2"
    for bad in ("latest", "../v1", "v", "v1/x"):
        with pytest.raises(NotFound):
            ws.version_dir("ds_1", bad)


def test_sweep_tmp_removes_only_stale_staging(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").ensure()
    stale, fresh = ws.staging("video"), ws.staging("video")
    (stale / "input.mp4").write_bytes(b"x" * 10)
    old = time.time() - 2 * 86_400
    os.utime(stale, (old, old))
    keep = ws.datasets / "ds_1"
    keep.mkdir()
    os.utime(keep, (old, old))
    assert ws.sweep_tmp() == 1
    assert not stale.exists() and fresh.is_dir() and keep.is_dir()
