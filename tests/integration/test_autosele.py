"""The AutoSele dialect against the running platform (Ray Serve + Ray Train, session fixtures): a
network from a plugin template, a data version from a generated folder under the import roots, a
training task run as a core Ray Train job, its weights, log and model, evaluation through the Serve
deployments with rendered images and metrics from the labels, /show pages, release as a registry stage
that the native /models?stage= filter shows, and /gups_info on a CPU cluster."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.autosele_gen import yolo_folder

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["errno"] == 1, body
    return body["data"]


def poll(http: httpx.Client, path: str, task_id: str, done: tuple[str, ...], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = ok(http.post(path, json={"task_id": task_id}))
        if record["status"] in done:
            return record
        time.sleep(0.5)
    raise AssertionError(record)


def test_autosele_flow(http: httpx.Client, import_root: Path) -> None:
    assert ok(http.get("/gups_info")) == []  # the test cluster has no GPUs
    ok(http.post("/create_net", json={"network_name": "det_net", "src_net": "yolov8n.pt", "net_describe": "检测"}))
    yolo_folder(import_root, "shapes", 40, seed=3)
    data_task = ok(http.post("/create_data", data={"data_name": "shapes-v1", "sour_data": "shapes", "thread": "2",
                                                   "train": "0.8", "val": "0.2", "test": "0"}))
    data = poll(http, "/data_history", data_task, ("completed", "failed"), timeout=120)
    assert data["status"] == "completed", data
    assert "shapes-v1" in ok(http.get("/sour_datas"))

    task_id = ok(http.post("/create_train", json={"train_name": "shapes", "network": "det_net", "data": "shapes-v1",
                                                   "task_desc": "形状"}))
    started = ok(http.post("/compat/autosele/starttask", json={
        "task_id": task_id, "num_classes": 2, "num_epoch": 6, "batch_size": 8, "model": "kd_shapes",
        "base_lr": 0.01, "train_con": {"imgsz": 128, "mosaic": 0.0, "plots": False}}))
    assert started["status"] in ("queued", "running")
    record = poll(http, "/train_history", task_id, ("completed", "failed", "stopped"), timeout=400)
    assert record["status"] == "completed", record
    assert record["iter_num"] == 6 * ok(http.get("/calculate", params={"task_id": task_id, "batch_val": 8}))
    log = ok(http.get("/output_log", params={"task_id": task_id}))
    assert any("Epoch" in line or "epoch" in line for line in log), log[-5:]
    files = ok(http.get("/weights", params={"task_id": task_id}))
    assert files[0] == "kd_shapes_ep_0006.pt" and any(f.startswith("checkpoint") for f in files[1:]), files
    (generated,) = [m for m in ok(http.get("/model")) if m["task_id"] == task_id]
    assert generated["task_name"] == "shapes" and generated["models"] == ["kd_shapes_ep_0006.pt"]
    model_id = generated["items"][0]["model_id"]

    # evaluation on the Serve deployments, with the task's label map's display names on the images
    ok(http.post("/save_map", json={"task_id": task_id, "map_value": {"0": ["0", "square", "方"],
                                                                      "1": ["1", "circle", "圆"]}}))
    source = yolo_folder(import_root, "eval-src", 5, seed=11)
    eva = ok(http.post("/starteva", json={"dicts": {"shapes": ["kd_shapes_ep_0006.pt"]}, "type": "remote",
                                          "sour_dir": str(source / "images"), "dest_dir": "eval-out",
                                          "gpus": "", "single_gpu": 2}))
    rate = poll(http, "/eva_rate", eva, ("completed", "failed"), timeout=180)
    assert rate["status"] == "completed" and rate["progress"] == 1.0, rate
    assert rate["model"] == {"shapes": ["kd_shapes_ep_0006.pt"]} and rate["single_gpu"] == 2
    assert rate["task_id"] == eva and isinstance(rate["id"], int)
    (metrics,) = rate["metrics"]
    m = metrics["metrics"]
    boxes = sum(len((source / "labels" / f"img{i:04d}.txt").read_text().split("\n")) - 1 for i in range(5))
    assert m["labelled_images"] == 5 and m["true_positives"] + m["false_negatives"] == boxes, m
    assert 0.0 <= m["precision"] <= 1.0 and 0.0 <= m["recall"] <= 1.0
    rendered = sorted((import_root / "eval-out" / "shapes" / "kd_shapes_ep_0006").glob("*.png"))
    assert len(rendered) == 5
    body = http.post("/show", json={"task_id": eva, "cur_img": 2}).json()
    assert body["errno"] == 1 and body["total_img"] == 5
    original = Image.open(io.BytesIO(base64.b64decode(body["or_data"])))
    predicted = Image.open(io.BytesIO(base64.b64decode(body["la_data"])))
    assert original.size == predicted.size == (128, 128)
    assert http.post("/show", json={"task_id": eva, "cur_img": 6}).json()["errno"] == 400

    # release: a registry stage the native API shows and filters on
    page = http.get("/release_tab", params={"page": 1}).json()
    assert page["errno"] == 1 and page["total"] == 1 and page["name"] == "detect"
    entry = next(e for e in page["data"] if e["model_id"] == model_id)
    assert entry["files"] == ["kd_shapes_ep_0006.pt", "kd_shapes_ep_0006.json"] and entry["stage"] is None
    assert [m["model_id"] for m in http.get("/models", params={"stage": "released"}).json()["models"]] == []
    (done,) = ok(http.post("/release", json={"dicts": {"shapes": entry["files"]}, "page": "1", "version": "20180731",
                                             "env": "北京", "adcode": "1110000", "desc": "北京模型", "type": "车道线",
                                             "time": "2018-07-31 12:22:30"}))
    assert done["stage"] == "released" and done["adcode"] == 1110000 and done["version"] == "20180731"
    released = http.get("/models", params={"stage": "released"}).json()["models"]
    assert [m["model_id"] for m in released] == [model_id] and released[0]["stage"] == "released"
    assert http.get(f"/models/{model_id}").json()["stage"] == "released"
