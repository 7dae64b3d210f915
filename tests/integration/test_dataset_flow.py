"""Datasets and annotation end to end, over HTTP against the real Serve application."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.datagen import write_coco_zip, write_evil_zip, write_voc_zip, write_yolo_zip

pytestmark = pytest.mark.ray


def upload(http: httpx.Client, archive: Path) -> httpx.Response:
    return http.post("/datasets/upload", files={"file": (archive.name, archive.read_bytes(), "application/zip")})


@pytest.mark.parametrize(
    ("writer", "fmt", "classes"),
    [(write_yolo_zip, "yolo", ["square", "circle"]), (write_coco_zip, "coco", ["square", "circle"]),
     (write_voc_zip, "voc", ["circle", "square"])],
)
def test_upload_prepare_annotate_export(
    http: httpx.Client, tmp_path: Path, writer: Callable[..., Path], fmt: str, classes: list[str]
) -> None:
    up = upload(http, writer(tmp_path / f"{fmt}.zip", 10))
    assert up.status_code == 200, up.text
    assert up.json()["status"] == "uploaded"
    ds = up.json()["dataset_id"]

    prep = http.post(f"/datasets/{ds}/prepare", json={"split_ratio": {"train": 0.8, "val": 0.2}})
    assert prep.status_code == 200, prep.text
    body = prep.json()
    assert (body["version"], body["status"], body["classes"]) == ("v1", "prepared", classes)
    assert (body["train_count"], body["val_count"], body["format"]) == (8, 2, fmt)
    data = yaml.safe_load(Path(body["data_yaml"]).read_text())
    assert data["path"] == str(Path(body["data_yaml"]).parent) and data["names"] == dict(enumerate(classes))

    detail = http.get(f"/datasets/{ds}").json()
    assert detail["versions"] == ["v1"] and detail["version_details"][0]["class_counts"]

    task = http.post("/annotations/tasks", json={"dataset_id": ds, "version": "v1"})
    assert task.status_code == 200, task.text
    tid = task.json()["task_id"]
    assert task.json()["total_items"] == 10
    items = http.get(f"/annotations/tasks/{tid}/items").json()["items"]
    item = items[0]
    assert http.get("/" + item["image_path"]).content[:2] == b"\xff\xd8"  # the JPEG itself

    box = {"class_id": 1, "x1": 10.0, "y1": 12.0, "x2": 70.0, "y2": 90.0}
    saved = http.post(f"/annotations/tasks/{tid}/items/{item['image_id']}", json={"boxes": [box]})
    assert saved.json() == {"ok": True, "message": "Annotation saved successfully"}
    got = http.get(f"/annotations/tasks/{tid}/items/{item['image_id']}").json()
    assert got["boxes"] == [box] and got["updated_at"]

    exported = http.get(f"/annotations/tasks/{tid}/export", params={"format": "yolo"}).json()
    assert exported["ok"] is True and exported["exported_count"] == 10
    split = Path(item["image_path"]).parent.name
    label = Path(exported["labels_dir"]) / split / (Path(item["image_path"]).stem + ".txt")
    assert label.read_text() == "1 0.312500 0.398438 0.468750 0.609375\n"

    assert http.delete(f"/datasets/{ds}").json()["ok"] is True
    assert http.get(f"/datasets/{ds}").status_code == 404
    assert http.get(f"/annotations/tasks/{tid}/items").status_code == 404


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "not_zip"])
def test_unsafe_uploads_are_refused(http: httpx.Client, tmp_path: Path, kind: str) -> None:
    before = {d["dataset_id"] for d in http.get("/datasets").json()["datasets"]}
    resp = upload(http, write_evil_zip(tmp_path / f"{kind}.zip", kind))
    assert resp.status_code == 400
    assert isinstance(resp.json()["detail"], str)
    assert {d["dataset_id"] for d in http.get("/datasets").json()["datasets"]} == before


def test_errors_are_detail_envelopes(http: httpx.Client, tmp_path: Path) -> None:
    ds = upload(http, write_yolo_zip(tmp_path / "y.zip", 4)).json()["dataset_id"]
    cases = [
        (http.get("/datasets/ds_missing"), 404),
        (http.post("/datasets/ds_missing/prepare", json={}), 404),
        (http.post(f"/datasets/{ds}/prepare", json={"split_ratio": {"train": 0.6, "val": 0.6}}), 422),
        (http.post("/annotations/tasks", json={"dataset_id": ds}), 409),  # not prepared yet
        (http.get("/annotations/tasks/task_missing/items"), 404),
        (http.post("/datasets/upload", files={"file": ("x.zip", b"plain bytes")}), 400),
    ]
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert "detail" in resp.json()
    http.post(f"/datasets/{ds}/prepare")
    tid = http.post("/annotations/tasks", json={"dataset_id": ds}).json()["task_id"]
    iid = http.get(f"/annotations/tasks/{tid}/items").json()["items"][0]["image_id"]
    bad = http.post(f"/annotations/tasks/{tid}/items/{iid}",
                    json={"boxes": [{"class_id": 0, "x1": 50, "y1": 5, "x2": 10, "y2": 9}]})
    assert bad.status_code == 400 and "x1 < x2" in bad.json()["detail"]
    assert http.get(f"/annotations/tasks/{tid}/export", params={"format": "coco"}).status_code == 400
