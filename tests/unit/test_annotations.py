from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.services import annotations as ann
from raysight.services import datasets
from tests.datagen import make_detection_images, reader_over, write_classify_zip, write_yolo_zip

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)


def prepared(ctx: Platform, archive: Path) -> str:
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    return ds["dataset_id"]


@pytest.fixture
def task(ctx: Platform, tmp_path: Path) -> dict:
    ds = prepared(ctx, write_yolo_zip(tmp_path / "y.zip", 6))
    return ann.create_task(ctx=ctx, dataset_id=ds)


def test_task_covers_every_image_with_existing_labels(ctx: Platform, task: dict) -> None:
    assert task["total_items"] == 6 and task["annotated_count"] == 6
    assert task["classes"] == ["square", "circle"] and task["task_id"].startswith("task_")
    items = ann.list_items(ctx=ctx, task_id=task["task_id"])["items"]
    assert sorted(i["image_id"] for i in items) == [f"img{i:04d}" for i in range(6)]
    first = next(i for i in items if i["image_id"] == "img0000")
    assert (first["width"], first["height"], first["has_annotation"]) == (128, 128, True)
    assert first["image_path"].startswith(f"datasets/{task['dataset_id']}/v1/images/")
    assert (ctx.workspace.root / first["image_path"]).is_file()
    boxes = ann.get_item(ctx=ctx, task_id=task["task_id"], image_id="img0000")["boxes"]
    truth = make_detection_images(1)[0].boxes
    assert [(b["class_id"], b["x1"], b["y1"], b["x2"], b["y2"]) for b in boxes] == [
        (c, float(x1), float(y1), float(x2), float(y2)) for c, x1, y1, x2, y2 in truth
    ]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ({"class_id": 2, "x1": 1, "y1": 1, "x2": 9, "y2": 9}, "class_id"),
        ({"class_id": -1, "x1": 1, "y1": 1, "x2": 9, "y2": 9}, "class_id"),
        ({"class_id": 0, "x1": 9, "y1": 1, "x2": 1, "y2": 9}, "x1 < x2"),
        ({"class_id": 0, "x1": 1, "y1": 9, "x2": 9, "y2": 9}, "y1 < y2"),
        ({"class_id": 0, "x1": -1, "y1": 1, "x2": 9, "y2": 9}, "outside"),
        ({"class_id": 0, "x1": 1, "y1": 1, "x2": 129, "y2": 9}, "outside"),
        ({"class_id": 0, "x1": 1, "y1": 1, "x2": 9}, "needs"),
    ],
)
def test_invalid_boxes_store_nothing(ctx: Platform, task: dict, box: dict, message: str) -> None:
    before = ann.get_item(ctx=ctx, task_id=task["task_id"], image_id="img0001")
    good = {"class_id": 0, "x1": 1, "y1": 1, "x2": 20, "y2": 20}
    with pytest.raises(Invalid, match=message):
        ann.save_item(ctx=ctx, task_id=task["task_id"], image_id="img0001", boxes=[good, box])
    assert ann.get_item(ctx=ctx, task_id=task["task_id"], image_id="img0001") == before


def test_save_get_and_export(ctx: Platform, task: dict) -> None:
    tid = task["task_id"]
    boxes = [{"class_id": 1, "x1": 0.0, "y1": 0.0, "x2": 64.0, "y2": 32.0}]
    assert ann.save_item(ctx=ctx, task_id=tid, image_id="img0002", boxes=boxes)["ok"] is True
    got = ann.get_item(ctx=ctx, task_id=tid, image_id="img0002")
    assert got["boxes"] == boxes and got["updated_at"]
    ann.save_item(ctx=ctx, task_id=tid, image_id="img0003", boxes=[])  # reviewed: no objects
    out = ann.export(ctx=ctx, task_id=tid)
    info = datasets.get_version(ctx=ctx, dataset_id=task["dataset_id"])
    assert out["labels_dir"] == str(Path(info.root) / "labels") and out["exported_count"] == 6
    labels = {p.stem: p for p in Path(out["labels_dir"]).glob("*/*.txt")}
    assert labels["img0002"].read_text() == "1 0.250000 0.125000 0.500000 0.250000\n"
    assert labels["img0003"].read_text() == ""
    assert not list(Path(out["labels_dir"]).glob("*/.*.tmp"))
    with pytest.raises(Invalid, match="unsupported export format"):
        ann.export(ctx=ctx, task_id=tid, format="coco")


def test_new_classes_follow_into_data_yaml(ctx: Platform, task: dict) -> None:
    t2 = ann.create_task(ctx=ctx, dataset_id=task["dataset_id"], classes=["square", "circle", "star"])
    ann.save_item(ctx=ctx, task_id=t2["task_id"], image_id="img0000",
                  boxes=[{"class_id": 2, "x1": 10, "y1": 10, "x2": 30, "y2": 30}])
    ann.export(ctx=ctx, task_id=t2["task_id"])
    info = datasets.get_version(ctx=ctx, dataset_id=task["dataset_id"])
    assert info.classes == ["square", "circle", "star"] and info.class_counts["star"] == 1
    assert yaml.safe_load(Path(info.data_yaml).read_text())["names"] == {0: "square", 1: "circle", 2: "star"}


def test_unknown_things_are_404_and_unprepared_is_409(ctx: Platform, task: dict, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        ann.list_items(ctx=ctx, task_id="task_nope")
    with pytest.raises(NotFound):
        ann.get_item(ctx=ctx, task_id=task["task_id"], image_id="nope")
    with pytest.raises(NotFound):
        ann.create_task(ctx=ctx, dataset_id="ds_nope")
    with pytest.raises(Conflict):
        ann.create_task(ctx=ctx, dataset_id=task["dataset_id"], version="v9")


def test_classification_datasets_have_no_box_tasks(ctx: Platform, tmp_path: Path) -> None:
    ds = prepared(ctx, write_classify_zip(tmp_path / "k.zip", 3))
    with pytest.raises(Invalid, match="detection"):
        ann.create_task(ctx=ctx, dataset_id=ds)


def test_routes(client: TestClient, ctx: Platform, tmp_path: Path) -> None:
    ds = prepared(ctx, write_yolo_zip(tmp_path / "y.zip", 4))
    made = client.post("/annotations/tasks", json={"dataset_id": ds})
    assert made.status_code == 200, made.text
    tid = made.json()["task_id"]
    assert set(made.json()) == {"task_id", "dataset_id", "version", "classes", "total_items", "annotated_count",
                                "created_at"}
    items = client.get(f"/annotations/tasks/{tid}/items").json()["items"]
    image = client.get("/" + items[0]["image_path"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    iid = items[0]["image_id"]
    box = {"class_id": 0, "x1": 5.0, "y1": 6.0, "x2": 50.0, "y2": 60.0}
    saved = client.post(f"/annotations/tasks/{tid}/items/{iid}", json={"boxes": [box]})
    assert saved.json() == {"ok": True, "message": "Annotation saved successfully"}
    assert client.get(f"/annotations/tasks/{tid}/items/{iid}").json()["boxes"] == [box]
    bad = client.post(f"/annotations/tasks/{tid}/items/{iid}", json={"boxes": [{**box, "class_id": 9}]})
    assert bad.status_code == 400 and "class_id" in bad.json()["detail"]
    assert client.post(f"/annotations/tasks/{tid}/items/{iid}", json={"boxes": [{"x1": 1}]}).status_code == 422
    # JSON numbers only: a true, "0" or 0.0 class, or a text coordinate, is refused (never read as a number)
    for wrong in ({"class_id": True}, {"class_id": "0"}, {"class_id": 0.0}, {"x1": "5"}, {"y2": False}):
        answer = client.post(f"/annotations/tasks/{tid}/items/{iid}", json={"boxes": [{**box, **wrong}]})
        assert answer.status_code == 422, (wrong, answer.text)
    assert client.get(f"/annotations/tasks/{tid}/items/{iid}").json()["boxes"] == [box]
    exported = client.get(f"/annotations/tasks/{tid}/export", params={"format": "yolo"}).json()
    assert exported["ok"] is True and exported["exported_count"] == 4
    assert client.get(f"/annotations/tasks/{tid}/export", params={"format": "voc"}).status_code == 400
    assert client.get("/annotations/tasks/task_nope/items").status_code == 404
    assert client.get(f"/annotations/tasks/{tid}/items/missing").status_code == 404


def test_unlabelled_images_need_classes_before_annotation_and_training(ctx: Platform, client: TestClient,
                                                                       tmp_path: Path) -> None:
    """A zip of images without labels prepared without classes has none: an annotation task needs them
    given and training refuses it up front (400); once labelled and exported, it trains."""
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, (image, _boxes) in enumerate(make_detection_images(4)):
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG")
            zf.writestr(f"images/p{i}.jpg", buffer.getvalue())
    ds = prepared(ctx, archive)
    assert datasets.get_version(ctx=ctx, dataset_id=ds).classes == []
    refused = client.post("/annotations/tasks", json={"dataset_id": ds})
    assert refused.status_code == 400 and "no classes" in refused.json()["detail"]
    assert client.post("/train/jobs", json={"dataset_id": ds, "epochs": 1}).status_code == 400
    made = client.post("/annotations/tasks", json={"dataset_id": ds, "classes": ["square", "circle"]}).json()
    item = client.get(f"/annotations/tasks/{made['task_id']}/items/p0").json()
    assert item["boxes"] == [] and item["updated_at"] == made["created_at"]  # never saved: a string all the same
    box = {"class_id": 0, "x1": 5.0, "y1": 6.0, "x2": 50.0, "y2": 60.0}
    assert client.post(f"/annotations/tasks/{made['task_id']}/items/p0", json={"boxes": [box]}).status_code == 200
    assert client.get(f"/annotations/tasks/{made['task_id']}/export").status_code == 200
    assert client.post("/train/jobs", json={"dataset_id": ds, "epochs": 1}).status_code == 200
