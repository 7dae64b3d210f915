"""AutoSele data operations and random selection without Ray: each documented flow end to end on generated
data (offimport -> off_status, task_divide -> divide_history, process_label -> label_history -> native
annotation tasks, linedown -> line_status; sam_value -> auto_sam), the native routes over the same
services, and the envelope for unknown ids, bad bodies and server paths outside RAYSIGHT_IMPORT_ROOTS."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.services import selection
from raysight.settings import Settings
from tests.datagen import image_bytes, make_classify_images, write_yolo_zip

STATUS = {"/off_status", "/line_status", "/divide_history", "/label_history", "/auto_sam", "/auto_sele"}


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    return root


@pytest.fixture
def app(tmp_path: Path, roots: Path) -> Iterator[TestClient]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", import_roots=str(roots), max_extract_files=5000))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c
    ctx.close()


def env(resp, errno: int = 1) -> object:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["errno"] == errno, body
    if errno != 1:
        assert body["message"] and body["data"] is None, body
    return body["data"]


def wait(client: TestClient, path: str, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = env(client.post(path, json={"task_id": task_id}))
        if record["status"] not in ("pending", "running"):
            return record
        time.sleep(0.1)
    raise AssertionError(f"{task_id} did not end: {record}")


def yolo_folder(root: Path, n: int = 14) -> Path:
    archive = write_yolo_zip(root / "src.zip", n, size=64, seed=3)
    folder = root / "labelled"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    archive.unlink()
    return folder


def image_pool(root: Path, n: int = 20) -> Path:
    pool = root / "pool"
    pool.mkdir()
    for i, image in enumerate(make_classify_images(n, classes=("square",), size=32, seed=1)["square"]):
        (pool / f"p{i:03d}.png").write_bytes(image_bytes(image, "png"))
    return pool


def test_offimport_divide_publish_linedown_flow(app: TestClient, roots: Path) -> None:
    src = yolo_folder(roots)
    meta = {"roadelement": '{"lane": [255, 255, 0]}', "source": "survey car 7", "author": "li", "annotype": "box",
            "datakind": "road", "city": "wuhan"}
    task_id = env(app.post("/offimport", data={**meta, "src": str(src), "dest": str(roots / "reports"),
                                               "imgoprange": "1-12"}))
    record = wait(app, "/off_status", task_id)
    assert record["status"] == "completed", record
    assert {k: record[k] for k in meta} == meta and record["imgoprange"] == "1-12"
    result = record["result"]
    dataset_id = result["dataset_id"]
    assert result["images"] == 12 and result["images_in_src"] == 14 and result["version"] == "v1"
    assert (roots / "reports" / f"offimport_{task_id}.json").is_file()
    ds = app.get(f"/datasets/{dataset_id}").json()
    assert ds["versions"] == ["v1"] and {"city:wuhan", "author:li", "source:survey car 7"} <= set(ds["tags"])
    detail = ds["version_details"][0]
    assert detail["train_count"] + detail["val_count"] + detail["test_count"] == 12

    # labelling packages of 5 images: 5 + 5 + 2, published as three native annotation tasks
    divide_id = env(app.post("/task_divide", json={"version": f"{dataset_id}/v1", "step": "5", "types": "full"}))
    divided = wait(app, "/divide_history", divide_id)
    assert divided["status"] == "completed" and divided["step"] == 5 and divided["types"] == "full"
    assert [len(p["images"]) for p in divided["result"]["packages"]] == [5, 5, 2]
    env(app.post("/label_history", json={"task_id": divide_id}), 404)  # a divide id is no publish id
    publish_id = env(app.post("/process_label", json={"version": dataset_id, "types": "lane"}))
    published = wait(app, "/label_history", publish_id)
    assert published["status"] == "completed" and published["types"] == "lane", published
    assert published["name"] == f"{dataset_id}_lane"  # a documented field: the published set's name
    annotation_ids = [p["annotation_task_id"] for p in published["result"]["packages"]]
    sizes = [app.get(f"/annotations/tasks/{t}").json()["total_items"] for t in annotation_ids]
    assert sizes == [5, 5, 2]
    env(app.post("/process_label", json={"version": dataset_id, "types": "lane"}), 409)  # published once
    assert len(env(app.post("/label_history", json={}))) == 1  # without task_id: the history

    # label one image, then export the three tasks (by position, then by id)
    items = app.get(f"/annotations/tasks/{annotation_ids[0]}/items").json()["items"]
    first = items[0]
    box = {"class_id": 1, "x1": 2, "y1": 3, "x2": 30, "y2": 40}
    assert app.post(f"/annotations/tasks/{annotation_ids[0]}/items/{first['image_id']}",
                    json={"boxes": [box]}).json()["ok"]
    export_id = env(app.post("/linedown", json={"taskid_start": "1", "taskid_end": "3", "dest": str(roots / "out")}))
    exported = wait(app, "/line_status", export_id)
    assert exported["status"] == "completed" and exported["result"]["tasks"] == annotation_ids, exported
    folder = roots / "out" / annotation_ids[0]
    assert len(list((folder / "images").iterdir())) == 5
    label = (folder / "labels" / f"{first['image_id']}.txt").read_text().split()
    assert label[0] == "1" and abs(float(label[1]) * first["width"] - 16) < 0.01
    by_id = env(app.post("/linedown", data={"taskid_start": annotation_ids[1], "taskid_end": annotation_ids[2],
                                            "dest": str(roots / "out2")}))
    assert wait(app, "/line_status", by_id)["result"]["tasks"] == annotation_ids[1:]

    # the native routes drive the same services
    native = app.post("/dataops/divide", json={"version": f"{dataset_id}/v1", "step": 100, "types": "remote"})
    assert native.status_code == 200, native.text
    for _ in range(100):
        got = app.get(f"/dataops/{native.json()['task_id']}").json()
        if got["status"] == "completed":
            break
        time.sleep(0.1)
    # "remote" keeps only images without labels: the generated ones all have boxes
    assert got["status"] == "completed" and got["result"]["images"] == 0, got


def test_sam_value_random_sampling(app: TestClient, roots: Path) -> None:
    pool = image_pool(roots)
    task_id = env(app.post("/sam_value", json={"output_dir": str(roots / "picked"), "ratio": "6",
                                               "track_file": str(pool), "isshuffle": "1"}))
    record = wait(app, "/auto_sam", task_id)
    assert record["status"] == "completed" and record["task_type"] == "random", record
    assert record["sele_ratio"] == "6" and record["track_file"] == str(pool) and record["isshuffle"] == "1"
    picked = sorted(p.name for p in (roots / "picked").glob("*.png"))
    assert len(picked) == 6 and set(picked) <= {p.name for p in pool.iterdir()}
    assert sorted(Path(s).name for s in record["result"]["sources"]) == picked

    # a task file (list of paths, relative to it); no shuffle: evenly spaced, in list order
    listing = roots / "tasks.txt"
    listing.write_text("# pool\n" + "".join(f"pool/p{i:03d}.png\n" for i in range(20)) + "pool/missing.png\n")
    task_id = env(app.post("/sam_value", data={"output_dir": "picked2", "ratio": "0.2", "task_file": str(listing),
                                               "isshuffle": "0"}))
    record = wait(app, "/auto_sam", task_id)
    assert record["result"]["selected"] == ["p000.png", "p005.png", "p010.png", "p015.png"], record
    assert record["isshuffle"] == "0"
    # isshuffle left out: the sample is shuffled (the default), and the record says so
    task_id = env(app.post("/sam_value", json={"output_dir": "picked3", "ratio": "3", "track_file": str(pool)}))
    assert wait(app, "/auto_sam", task_id)["isshuffle"] == "1"
    assert record["result"]["skipped"] == 1 and (roots / "picked2" / "selected.txt").is_file()

    # native route, seeded: the same seed picks the same images
    picks = []
    for out in ("n1", "n2"):
        resp = app.post("/selection/random", json={"pool": str(pool), "output_dir": str(roots / out), "count": 5,
                                                   "seed": 7})
        assert resp.status_code == 200, resp.text
        for _ in range(100):
            got = app.get(f"/selection/{resp.json()['task_id']}").json()
            if got["status"] == "completed":
                break
            time.sleep(0.1)
        picks.append(got["result"]["selected"])
    assert picks[0] == picks[1] and len(picks[0]) == 5


def test_paths_outside_the_import_roots_are_refused(app: TestClient, roots: Path, tmp_path: Path) -> None:
    pool = image_pool(roots)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, roots / "escape")
    listing = roots / "evil.txt"
    listing.write_text(f"{pool}/p000.png\n/etc/passwd\n")
    bad = [str(outside), "/etc", f"{roots}/../outside", "../outside", "escape", str(roots / "escape" / "x")]
    for path in bad:
        env(app.post("/sam_value", json={"output_dir": path, "ratio": 1, "track_file": str(pool)}), 400)
        env(app.post("/sam_value", json={"output_dir": "ok", "ratio": 1, "track_file": path}), 400)
        env(app.post("/offimport", json={"src": path}), 400)
        env(app.post("/offimport", json={"src": str(pool), "dest": path}), 400)
        env(app.post("/linedown", json={"taskid_start": "1", "taskid_end": "2", "dest": path}), 400)
        assert app.post("/selection/random", json={"pool": path, "output_dir": "o", "count": 1}).status_code == 400
        assert app.post("/dataops/import", json={"src": path}).status_code == 400
    # a symlink in a pool folder is skipped (it could lead outside the roots)
    secret = outside / "secret.png"
    secret.write_bytes((pool / "p000.png").read_bytes())
    os.symlink(secret, pool / "zz_link.png")
    task_id = env(app.post("/sam_value", json={"output_dir": "all", "ratio": 100, "track_file": str(pool)}))
    record = wait(app, "/auto_sam", task_id)
    assert record["result"]["pool_size"] == 20 and record["result"]["skipped"] == 1, record
    assert not (roots / "all" / "zz_link.png").exists()
    # a listed path outside the roots fails the task with a clear error; nothing is copied
    task_id = env(app.post("/sam_value", json={"output_dir": "o", "ratio": 1, "task_file": str(listing)}))
    record = wait(app, "/auto_sam", task_id)
    assert record["status"] == "failed" and "outside the allowed import roots" in record["error"], record
    assert list(outside.iterdir()) == [secret]


def test_unknown_ids_and_bad_bodies(app: TestClient, roots: Path) -> None:
    for path in sorted(STATUS):
        env(app.post(path, json={"task_id": "nope_123"}), 404)
        env(app.post(path, json={"task_id": "../../etc/passwd"}), 404)
        env(app.post(path, content=b"{oops", headers={"content-type": "application/json"}), 400)
    pool = image_pool(roots)
    task_id = env(app.post("/sam_value", json={"output_dir": "o", "ratio": 1, "track_file": str(pool)}))
    env(app.post("/auto_sele", json={"task_id": task_id}), 404)  # a random task is no model-driven one
    env(app.post("/off_status", json={"task_id": task_id}), 404)
    env(app.post("/sam_value", json={"output_dir": "o", "ratio": "many", "track_file": str(pool)}), 400)
    env(app.post("/sam_value", json={"output_dir": "o", "ratio": "0", "track_file": str(pool)}), 400)
    env(app.post("/sam_value", json={"output_dir": "o", "ratio": "2"}), 400)  # no pool
    env(app.post("/sam_value", json={"output_dir": "o", "ratio": "2", "track_file": str(pool), "isshuffle": "x"}), 400)
    env(app.post("/sele_value", json={"output_dir": "o", "ratio": 2, "track_file": str(pool)}), 400)  # no model
    env(app.post("/sele_value", json={"output_dir": "o", "ratio": 2, "track_file": str(pool),
                                      "weights_dir": "model_missing"}), 404)
    env(app.post("/sele_value", json={"output_dir": "o", "ratio": 2, "track_file": str(pool),
                                      "weights_dir": "/data/models/model_missing/weights/best.pt"}), 404)
    env(app.post("/offimport", json={"src": str(pool), "imgoprange": "9-3"}), 400)
    env(app.post("/offimport", json={"src": str(pool), "imgoprange": "some"}), 400)
    env(app.post("/linedown", json={"taskid_start": "1", "taskid_end": "5", "dest": "x"}), 404)  # no task yet
    env(app.post("/linedown", json={"taskid_start": "5", "taskid_end": "1", "dest": "x"}), 400)
    env(app.post("/task_divide", json={"version": "ds_missing", "step": 5}), 404)
    env(app.post("/task_divide", json={"version": "ds_missing", "step": 0}), 400)
    env(app.post("/task_divide", json={"step": 5}), 400)
    env(app.post("/process_label", json={"version": "ds_missing/v1"}), 404)
    env(app.get("/sam_value"), 405)
    assert app.get("/selection/nope_1").status_code == 404
    assert app.get("/dataops/nope_1").status_code == 404
    assert app.post("/selection/uncertainty", json={"pool": str(pool), "output_dir": "o", "count": 1,
                                                    "model_id": "m", "strategy": "vibes"}).status_code == 400


def test_uncertainty_scores() -> None:
    sure, unsure = [{"confidence": 0.97}, {"confidence": 0.03}], [{"confidence": 0.55}, {"confidence": 0.45}]
    for strategy in selection.STRATEGIES:
        a = selection.uncertainty(sure, task_type="classify", strategy=strategy, num_classes=2)
        b = selection.uncertainty(unsure, task_type="classify", strategy=strategy, num_classes=2)
        assert 0 <= a < b <= 1, strategy
    three = [{"confidence": 0.5}, {"confidence": 0.45}, {"confidence": 0.05}]
    assert selection.uncertainty(three, task_type="classify", strategy="margin", num_classes=3) == pytest.approx(0.95)
    assert selection.uncertainty(three, task_type="classify", strategy="least_confidence",
                                 num_classes=3) == pytest.approx(0.5)
    # detection: the most doubtful box decides; no box is certain
    boxes = [{"confidence": 0.9}, {"confidence": 0.5}]
    assert selection.uncertainty(boxes, task_type="detect", strategy="entropy", num_classes=2) == pytest.approx(1.0)
    assert selection.uncertainty([], task_type="detect", strategy="margin", num_classes=2) == 0.0
    assert selection.check_strategy(None) == selection.DEFAULT_STRATEGY == "entropy"
