from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, RaysightError, TooLarge
from raysight.services import datasets as svc
from raysight.settings import Settings
from raysight.store.models import Dataset, DatasetVersion, TrainJob
from raysight.store.models.base import utcnow
from tests.datagen import (
    EVIL_KINDS,
    reader_over,
    write_classify_zip,
    write_coco_zip,
    write_evil_zip,
    write_voc_zip,
    write_yolo_zip,
)

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)

ID = re.compile(r"^ds_\d{8}_\d{6}_[0-9a-f]{6}$")


def upload(ctx: Platform, archive: Path) -> dict[str, Any]:
    return asyncio.run(svc.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))


def nothing_left(ctx: Platform) -> bool:
    with ctx.db.session() as s:
        rows = s.query(Dataset).count()
    return rows == 0 and list(ctx.workspace.datasets.iterdir()) == [] and list(ctx.workspace.tmp.iterdir()) == []


def test_upload_records_the_dataset(ctx: Platform, tmp_path: Path) -> None:
    archive = write_yolo_zip(tmp_path / "my data.zip", 4)
    out = upload(ctx, archive)
    assert ID.match(out["dataset_id"])
    assert out["filename"] == "my data.zip" and out["size"] == archive.stat().st_size
    assert out["status"] == "uploaded" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", out["created_at"])
    assert ctx.workspace.dataset_archive(out["dataset_id"]).read_bytes() == archive.read_bytes()
    assert list(ctx.workspace.tmp.iterdir()) == []


@pytest.mark.parametrize("kind", EVIL_KINDS)
def test_refused_upload_leaves_nothing(ctx: Platform, tmp_path: Path, kind: str) -> None:
    archive = write_evil_zip(tmp_path / f"{kind}.zip", kind)
    with pytest.raises((Invalid, TooLarge)) as err:
        upload(ctx, archive)
    assert err.value.status == (413 if kind in ("too_many", "too_big") else 400)
    assert nothing_left(ctx)


def test_upload_over_the_size_limit_is_413(tmp_path: Path) -> None:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", max_upload_mb=1))
    archive = write_evil_zip(tmp_path / "big.zip", "too_big", big_mb=1)
    archive.write_bytes(archive.read_bytes() + os.urandom(2 * 1024 * 1024))
    try:
        with pytest.raises(TooLarge):
            upload(ctx, archive)
        assert nothing_left(ctx)
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            resp = client.post("/datasets/upload", files={"file": ("big.zip", archive.read_bytes())})
            assert resp.status_code == 413 and "limit" in resp.json()["detail"]
        assert nothing_left(ctx)
    finally:
        ctx.close()


def test_prepare_numbers_versions_and_writes_data_yaml(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 10))["dataset_id"]
    first = svc.prepare(ctx=ctx, dataset_id=ds)
    assert first["version"] == "v1" and first["status"] == "prepared"
    assert (first["train_count"], first["val_count"]) == (8, 2)
    second = svc.prepare(ctx=ctx, dataset_id=ds, split_ratio={"train": 0.5, "val": 0.5})
    assert second["version"] == "v2" and (second["train_count"], second["val_count"]) == (5, 5)
    data = yaml.safe_load(Path(second["data_yaml"]).read_text())
    root = ctx.workspace.version_dir(ds, "v2")
    assert data["path"] == str(root) and Path(data["path"]).is_absolute()
    assert (data["train"], data["val"], data["names"]) == ("images/train", "images/val", {0: "square", 1: "circle"})
    assert len(list((root / "images" / "val").iterdir())) == 5 == len(list((root / "labels" / "val").iterdir()))
    detail = svc.get_dataset(ctx=ctx, dataset_id=ds)
    assert detail["versions"] == ["v1", "v2"] and detail["status"] == "prepared"
    assert detail["version_details"][0]["class_counts"] == first["class_counts"]
    assert sum(first["class_counts"].values()) > 10


@pytest.mark.parametrize(
    ("writer", "fmt", "task"),
    [
        (write_coco_zip, "coco", "detect"),
        (write_voc_zip, "voc", "detect"),
        (write_classify_zip, "classify", "classify"),
    ],
)
def test_prepare_other_formats(ctx: Platform, tmp_path: Path, writer: Any, fmt: str, task: str) -> None:
    ds = upload(ctx, writer(tmp_path / "a.zip", 10))["dataset_id"]
    out = svc.prepare(ctx=ctx, dataset_id=ds)
    info = svc.get_version(ctx=ctx, dataset_id=ds, version="v1")
    assert (info.format, info.task_type, out["format"]) == (fmt, task, fmt)
    assert info.train_count + info.val_count == (30 if task == "classify" else 10)
    root = Path(info.root)
    if task == "classify":
        assert sorted(p.name for p in (root / "train").iterdir()) == info.classes
        assert yaml.safe_load(Path(info.data_yaml).read_text())["task"] == "classify"
    else:
        assert len(list((root / "labels" / "train").glob("*.txt"))) == info.train_count


def test_get_version_errors(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 4))["dataset_id"]
    with pytest.raises(Conflict, match="dataset not prepared"):
        svc.get_version(ctx=ctx, dataset_id=ds)
    with pytest.raises(NotFound):
        svc.get_version(ctx=ctx, dataset_id="ds_missing")
    with pytest.raises(NotFound):
        svc.get_version(ctx=ctx, dataset_id=ds, version="../v1")


def test_failed_prepare_keeps_earlier_versions(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 6))["dataset_id"]
    svc.prepare(ctx=ctx, dataset_id=ds)
    v1 = ctx.workspace.version_dir(ds, "v1")
    before = sorted(p.relative_to(v1) for p in v1.rglob("*"))
    for image in ctx.workspace.dataset_raw(ds).rglob("*.jpg"):
        image.write_bytes(b"broken")
    with pytest.raises(Invalid, match="no usable images"):
        svc.prepare(ctx=ctx, dataset_id=ds)
    assert sorted(p.relative_to(v1) for p in v1.rglob("*")) == before
    assert not ctx.workspace.version_dir(ds, "v2").exists() and list(ctx.workspace.tmp.iterdir()) == []
    detail = svc.get_dataset(ctx=ctx, dataset_id=ds)
    assert detail["status"] == "prepared" and "no usable images" in detail["error"]
    assert detail["versions"] == ["v1"]


def lock(ctx: Platform, ds: str, owner: str, age: timedelta = timedelta(0)) -> None:
    with ctx.db.session() as s:
        row = s.get(Dataset, ds)
        row.status, row.prepare_owner, row.prepare_started_at = "preparing", owner, utcnow() - age


def test_second_prepare_while_one_runs_is_409(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 4))["dataset_id"]
    lock(ctx, ds, f"{socket.gethostname()}:{os.getpid()}:abcd")
    with pytest.raises(Conflict):
        svc.prepare(ctx=ctx, dataset_id=ds)
    with pytest.raises(Conflict):
        svc.delete_dataset(ctx=ctx, dataset_id=ds)


@pytest.mark.parametrize(
    ("owner", "age"),
    [(f"{socket.gethostname()}:999999999:dead", timedelta(0)), ("otherhost:1:x", timedelta(hours=2))],
)
def test_stale_preparing_status_is_not_a_lock(ctx: Platform, tmp_path: Path, owner: str, age: timedelta) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 4))["dataset_id"]
    lock(ctx, ds, owner, age)
    assert svc.prepare(ctx=ctx, dataset_id=ds)["version"] == "v1"
    assert svc.get_dataset(ctx=ctx, dataset_id=ds)["status"] == "prepared"


def test_racing_prepares_never_share_a_version(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 40))["dataset_id"]
    outcomes: list[Any] = []

    def run() -> None:
        try:
            outcomes.append(svc.prepare(ctx=ctx, dataset_id=ds)["version"])
        except RaysightError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [o for o in outcomes if isinstance(o, str)]
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, str))
    assert sorted(versions) == [f"v{i}" for i in range(1, len(versions) + 1)]
    with ctx.db.session() as s:
        assert s.query(DatasetVersion).count() == len(versions)
        assert s.get(Dataset, ds).status == "prepared"


def test_delete_is_409_while_a_job_uses_the_dataset(ctx: Platform, tmp_path: Path) -> None:
    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 4))["dataset_id"]
    svc.prepare(ctx=ctx, dataset_id=ds)
    with ctx.db.session() as s:
        s.add(TrainJob(id="job_1", dataset_id=ds, model_name="yolov8n", plugin="yolo", task_type="detect",
                       epochs=1, imgsz=64, batch=2, status="running"))
    with pytest.raises(Conflict, match="job_1"):
        svc.delete_dataset(ctx=ctx, dataset_id=ds)
    with ctx.db.session() as s:
        s.get(TrainJob, "job_1").status = "completed"
    assert svc.delete_dataset(ctx=ctx, dataset_id=ds)["ok"] is True
    assert nothing_left(ctx)
    with pytest.raises(NotFound):
        svc.get_dataset(ctx=ctx, dataset_id=ds)


def test_update_and_list(ctx: Platform, tmp_path: Path) -> None:
    a = upload(ctx, write_yolo_zip(tmp_path / "a.zip", 2))["dataset_id"]
    b = upload(ctx, write_yolo_zip(tmp_path / "b.zip", 2))["dataset_id"]
    out = svc.update_dataset(ctx=ctx, dataset_id=a, description="shapes", tags=["x", "y", "x"])
    assert (out["description"], out["tags"]) == ("shapes", ["x", "y"])
    assert svc.update_dataset(ctx=ctx, dataset_id=a, tags=["z"])["description"] == "shapes"
    listed = svc.list_datasets(ctx=ctx)["datasets"]
    assert {d["dataset_id"] for d in listed} == {a, b}
    assert set(listed[0]) >= {"dataset_id", "filename", "size", "status", "created_at", "versions"}


# -- through the routes ---------------------------------------------------------------------------------


def test_routes_end_to_end(client: TestClient, tmp_path: Path) -> None:
    archive = write_coco_zip(tmp_path / "c.zip", 8)
    up = client.post("/datasets/upload", files={"file": ("c.zip", archive.read_bytes(), "application/zip")})
    assert up.status_code == 200, up.text
    ds = up.json()["dataset_id"]
    prep = client.post(f"/datasets/{ds}/prepare", json={"split_ratio": {"train": 0.75, "val": 0.25}})
    assert prep.status_code == 200, prep.text
    body = prep.json()
    assert {k: body[k] for k in ("dataset_id", "version", "status", "classes", "train_count", "val_count")} == {
        "dataset_id": ds, "version": "v1", "status": "prepared", "classes": ["square", "circle"],
        "train_count": 6, "val_count": 2,
    }
    assert client.post(f"/datasets/{ds}/prepare").json()["version"] == "v2"  # no body at all is fine
    assert client.get(f"/datasets/{ds}").json()["versions"] == ["v1", "v2"]
    put = client.put(f"/datasets/{ds}", json={"description": "d", "tags": ["t"]})
    assert put.status_code == 200 and put.json()["tags"] == ["t"]
    assert ds in [d["dataset_id"] for d in client.get("/datasets").json()["datasets"]]
    assert client.delete(f"/datasets/{ds}").json() == {"ok": True, "message": "Dataset deleted successfully"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/datasets/ds_nope", {}, 404),
        ("put", "/datasets/ds_nope", {"json": {"description": "x"}}, 404),
        ("delete", "/datasets/ds_nope", {}, 404),
        ("post", "/datasets/ds_nope/prepare", {}, 404),
        ("post", "/datasets/upload", {"files": {"file": ("a.zip", b"not a zip")}}, 400),
        ("post", "/datasets/upload", {"data": {"other": "1"}}, 400),
    ],
)
def test_route_errors_use_detail(
    client: TestClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == status and isinstance(resp.json()["detail"], str)


def test_prepare_route_refuses_bad_ratio_and_classes(client: TestClient, tmp_path: Path) -> None:
    archive = write_yolo_zip(tmp_path / "y.zip", 4)
    ds = client.post("/datasets/upload", files={"file": ("y.zip", archive.read_bytes())}).json()["dataset_id"]
    bad = client.post(f"/datasets/{ds}/prepare", json={"split_ratio": {"train": 0.9, "val": 0.2}})
    assert bad.status_code == 422 and "sum to 1" in bad.json()["detail"]
    assert client.post(f"/datasets/{ds}/prepare", json={"classes": ["a", "a"]}).status_code == 422
    assert client.get(f"/datasets/{ds}").json()["status"] == "uploaded"


@pytest.mark.slow
def test_ultralytics_trains_on_the_prepared_data_yaml(ctx: Platform, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    ds = upload(ctx, write_yolo_zip(tmp_path / "y.zip", 8))["dataset_id"]
    info = svc.get_version(ctx=ctx, dataset_id=ds, version=svc.prepare(ctx=ctx, dataset_id=ds)["version"])
    model = YOLO("yolov8n.yaml")
    model.train(data=info.data_yaml, epochs=1, imgsz=64, batch=4, workers=0, amp=False, plots=False,
                device="cpu", project=str(tmp_path / "runs"), name="t", verbose=False, val=True)
    assert (tmp_path / "runs" / "t" / "weights" / "last.pt").is_file()
    assert model.names == {0: "square", 1: "circle"}
