"""The AutoSele dialect's flows without Ray (real SQLite, real files): networks, data generation from a
folder under the import roots, training tasks up to a queued core job (no trainer attached), configs,
label maps, /calculate, release pages; the envelope for unknown ids, bad bodies and paths outside the
import roots (traversal attempts included)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings
from tests.autosele_gen import yolo_folder
from tests.unit.test_autosele_api import envelope


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "imports"
    folder.mkdir()
    return folder


@pytest.fixture
def actx(tmp_path: Path, root: Path) -> Iterator[Platform]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", import_roots=str(root)))
    yield ctx
    ctx.close()


@pytest.fixture
def api(actx: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(actx), raise_server_exceptions=False) as c:
        yield c


def ok(resp) -> object:
    return envelope(resp, 1)["data"]


def make_data(api: TestClient, root: Path, name: str = "20180801", n: int = 20) -> dict:
    yolo_folder(root, "lane-all", n)
    task_id = ok(api.post("/create_data", data={"data_name": name, "sour_data": "lane-all", "thread": "3",
                                                "train": "0.85", "val": "0.1", "test": "0.1", "data_desc": "苏州数据",
                                                "l_value": "1"}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = ok(api.post("/data_history", json={"task_id": task_id}))
        if record["status"] in ("completed", "failed"):
            return record
        time.sleep(0.2)
    raise AssertionError(record)


def test_networks(api: TestClient) -> None:
    templates = ok(api.get("/src_network"))
    assert {"yolov8n.pt", "resnet18"} <= set(templates)
    assert not {"vit_b", "ppocr"} & set(templates)  # families that cannot train offer no template
    task_id = ok(api.post("/create_net", json={"network_name": "c_network", "src_net": "yolov8n.pt",
                                               "netwonet_describe": "神经网络"}))
    assert task_id.startswith("net_")
    envelope(api.post("/compat/autosele/create_net", data={"network_name": "c_network"}), 409)
    envelope(api.post("/create_net", json={"network_name": "x", "src_net": "kd-seg.template"}), 400)
    envelope(api.post("/create_net", json={"network_name": "../x"}), 400)
    assert ok(api.get("/network")) == ["c_network"]
    (record,) = ok(api.get("/compat/autosele/network_history"))
    assert record["task_id"] == task_id and record["net_describe"] == "神经网络" and record["status"] == "created"
    assert record["src_net"] == "yolov8n.pt" and record["id"] == 1


def test_data_generation(api: TestClient, root: Path, actx: Platform) -> None:
    assert ok(api.get("/data")) == []
    record = make_data(api, root)
    assert record["status"] == "completed" and record["progress"] == 1.0, record
    assert ok(api.get("/data")) == ["lane-all"]
    assert ok(api.get("/sour_datas")) == ["20180801"]
    result = record["result"]
    assert result["train_count"] + result["val_count"] + result["test_count"] == 20
    assert result["val_count"] >= 1 and result["test_count"] >= 1 and result["classes"] == ["square", "circle"]
    assert record["data_describe"] == "苏州数据" and record["thread"] == 3 and record["l_value"] is True
    assert (actx.workspace.dataset_dir(record["dataset_id"]) / "raw" / "labels").is_dir()
    assert [r["data_name"] for r in ok(api.post("/data_history"))] == ["20180801"]
    envelope(api.post("/create_data", json={"data_name": "20180801", "sour_data": "lane-all", "train": 1}), 409)


@pytest.mark.parametrize("path", ["../outside", "/etc", "lane-all/../../outside", "/", "sub/../../..", "link"])
def test_server_folders_outside_the_import_roots_are_refused(api: TestClient, root: Path, tmp_path: Path,
                                                             path: str) -> None:
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    body = envelope(api.post("/create_data", json={"data_name": "d", "sour_data": path, "train": 1}), 400)
    assert "import roots" in body["message"] and str(tmp_path) not in body["message"]
    body = envelope(api.post("/starteva", json={"dicts": {"t": ["m.pt"]}, "sour_dir": path, "dest_dir": "out"}), 400)
    assert "sour_dir" in body["message"]
    yolo_folder(root, "imgs", 2)
    body = envelope(api.post("/starteva", json={"dicts": {"t": ["m.pt"]}, "sour_dir": "imgs", "dest_dir": path}), 400)
    assert "dest_dir" in body["message"]
    assert ok(api.get("/data")) == ["imgs"]  # a link out of the root is not offered


def test_data_errors(api: TestClient, root: Path) -> None:
    envelope(api.post("/create_data", json={"data_name": "d", "sour_data": "missing", "train": 1}), 404)
    yolo_folder(root, "src", 4)
    for bad in ({"train": 0}, {"train": -1, "val": 2}, {"train": "much"}, {"thread": 0, "train": 1},
                {"thread": 1000, "train": 1}):
        envelope(api.post("/create_data", json={"data_name": "d", "sour_data": "src", **bad}), 400)
    envelope(api.post("/create_data", json={"sour_data": "src", "train": 1}), 400)
    envelope(api.post("/data_history", json={"task_id": "data_nope"}), 404)
    (root / "empty").mkdir()
    task_id = ok(api.post("/create_data", json={"data_name": "e", "sour_data": "empty", "train": 1}))
    deadline = time.monotonic() + 30
    while (record := ok(api.post("/data_history", json={"task_id": task_id})))["status"] != "failed":
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    assert "no files" in record["error"]
    assert ok(api.get("/sour_datas")) == []


def test_training_task_without_a_trainer(api: TestClient, root: Path) -> None:
    ok(api.post("/create_net", json={"network_name": "net", "src_net": "yolov8n.pt"}))
    data = make_data(api, root)
    train_count = data["result"]["train_count"]
    envelope(api.post("/create_train", json={"train_name": "suzhou", "network": "nope"}), 404)
    envelope(api.post("/create_train", json={"train_name": "suzhou", "data": "nope"}), 404)
    task_id = ok(api.post("/create_train", data={"train_name": "suzhou", "network": "net", "data": "20180801",
                                                  "task_desc": "苏州任务"}))
    record = ok(api.post("/train_history", json={"task_id": task_id}))
    assert record["status"] == "created" and record["task_desc"] == "苏州任务" and record["network_path"] == "net"
    # a task's name keys its models in /model, /starteva and /release: one task per name
    envelope(api.post("/create_train", json={"train_name": "suzhou", "network": "net"}), 409)
    assert ok(api.get("/calculate", params={"task_id": task_id, "batch_val": 4})) == math.ceil(train_count / 4)
    assert ok(api.get("/weights", params={"task_id": task_id})) == []
    assert ok(api.get("/output_log", params={"task_id": task_id})) == []
    # label maps: built from the data's classes, saved in either documented order
    assert ok(api.post("/maps", json={"task_id": task_id})) == {"0": ["0", "square", "square"],
                                                                  "1": ["1", "circle", "circle"]}
    saved = ok(api.post("/save_map", json={"task_id": task_id, "map_value": {"0": ["square", "方块", "12"],
                                                                             "1": ["255", "circle", "圆"]}}))
    assert saved == {"0": ["12", "square", "方块"], "1": ["255", "circle", "圆"]}
    assert ok(api.post("/maps", data={"task_id": task_id})) == saved
    envelope(api.post("/save_map", json={"task_id": task_id, "map_value": {"7": ["1", "a", "b"]}}), 400)
    envelope(api.post("/save_map", json={"task_id": task_id, "map_value": {"0": ["1", "a"]}}), 400)
    envelope(api.post("/save_map", json={"task_id": task_id, "map_value": "[1]"}), 400)
    # configs: query, modify, and what cannot be modified
    config = ok(api.get("/train_configs", params={"task_id": task_id}))
    assert config["model_name"] == "yolov8n.pt" and config["imgsz"] == 640
    changed = ok(api.post("/train_config", json={"task_id": task_id, "train_con": {"imgsz": 96, "mosaic": 0.0}}))
    assert changed["imgsz"] == 96 and ok(api.get("/train_config", params={"task_id": task_id}))["mosaic"] == 0.0
    envelope(api.post("/train_config", json={"task_id": task_id, "train_con": {"model_name": "resnet18"}}), 400)
    for bad in ({"epochs": "zz"}, {"imgsz": "big"}, {"batch": [1]}, {"epochs": 2.5}, {"imgsz": True}):
        envelope(api.post("/train_config", json={"task_id": task_id, "train_con": bad}), 400)
    assert ok(api.post("/train_config", json={"task_id": task_id, "train_con": {"imgsz": "96"}}))["imgsz"] == 96
    body = envelope(api.get("/data_configs", params={"task_id": task_id}), 1)
    assert body["resp"] == body["data"] and body["data"]["classes"] == ["square", "circle"]
    assert ok(api.get("/data_config", params={"task_id": task_id, "data_con": '{"note": "x"}'}))["note"] == "x"
    envelope(api.post("/data_config", json={"task_id": task_id, "data_con": {"classes": []}}), 400)
    # start: validated against the data, then a queued core job (no trainer in this process)
    envelope(api.post("/starttask", json={"task_id": task_id, "num_classes": 3}), 400)
    for bad in ({"batch_size": "many"}, {"gpus": "a,b"}, {"steps": "x"}, {"base_lr": "fast"},
                {"start_date": "yesterday"}, {"train_con": "[1]"}, {"num_epoch": 0}, {"train_con": {"epochs": "abc"}},
                {"train_con": {"batch": [1]}}, {"train_con": {"model_name": "resnet18"}}):
        envelope(api.post("/starttask", json={"task_id": task_id, **bad}), 400)
    envelope(api.post("/starttask", json={"task_id": task_id, "weights": "nope.params"}), 404)
    envelope(api.post("/endtask", json={"task_id": task_id}), 409)  # never started
    started = ok(api.post("/starttask", json={
        "task_id": task_id, "num_classes": "2", "num_epoch": "3", "batch_size": "4", "gpus": "0", "model": "kd_suzhou",
        "steps": "100,200", "base_lr": "0.014", "start_date": "2018-07-31 12:22:30", "train_con": {"seed": 1},
        "data_con": {"note": "y"}}))
    assert started["status"] == "queued" and started["job_id"].startswith("job_")
    envelope(api.post("/starttask", json={"task_id": task_id}), 409)
    record = ok(api.post("/train_history", json={"task_id": task_id}))
    assert record["status"] == "queued" and record["category_num"] == 2 and record["batch_size"] == 4
    assert record["iter_num"] == 3 * math.ceil(train_count / 4) and record["learning_rate"] == 0.014
    assert record["steps"] == "100,200" and record["gpus"] == "0" and record["start_date"] == "2018-07-31 12:22:30"
    job = api.get(f"/train/jobs/{started['job_id']}").json()  # the native API sees the same job
    assert job["epochs"] == 3 and job["imgsz"] == 96 and job["params"]["lr0"] == 0.014
    assert job["params"]["mosaic"] == 0.0 and job["params"]["lr_steps"] == "100,200"
    assert any("created" in line for line in ok(api.get("/output_log", params={"task_id": task_id})))
    ok(api.post("/endtask", json={"task_id": task_id, "end_date": "2018-07-31 13:00:00"}))
    record = ok(api.post("/train_history", json={"task_id": task_id}))
    assert record["status"] == "stopped" and record["end_date"] == "2018-07-31 13:00:00"
    assert [r["task_id"] for r in ok(api.post("/train_history"))] == [task_id]


def test_unknown_ids_answer_404(api: TestClient) -> None:
    for prefix in ("", "/compat/autosele"):
        for method, path, params in [
            ("POST", "/train_history", {"task_id": "train_nope"}), ("GET", "/train_configs", {"task_id": "x"}),
            ("GET", "/data_configs", {"task_id": "x"}), ("GET", "/train_config", {"task_id": "x"}),
            ("GET", "/data_config", {"task_id": "x"}), ("GET", "/calculate", {"task_id": "x", "batch_val": 2}),
            ("POST", "/maps", {"task_id": "x"}), ("POST", "/save_map", {"task_id": "x", "map_value": {}}),
            ("GET", "/weights", {"task_id": "x"}), ("GET", "/output_log", {"task_id": "x"}),
            ("POST", "/starttask", {"task_id": "x"}), ("POST", "/endtask", {"task_id": "x"}),
            ("POST", "/eva_rate", {"task_id": "eva_nope"}), ("POST", "/show", {"task_id": "eva_nope"}),
            ("POST", "/data_history", {"task_id": "x"}),
        ]:
            kwargs = {"params": params} if method == "GET" else {"json": params}
            envelope(api.request(method, prefix + path, **kwargs), 404)


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/create_net", {"json": {}}),
    ("/create_net", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("/create_train", {"json": ["train_name"]}),
    ("/create_train", {"json": {"train_name": ""}}),
    ("/create_train", {"json": {"train_name": {"a": 1}}}),
    ("/starttask", {"json": {}}),
    ("/endtask", {"json": {"task_id": "x", "end_date": "31/07/2018"}}),
    ("/create_data", {"json": {"data_name": "d"}}),
    ("/starteva", {"json": {"dicts": "not json", "sour_dir": "a", "dest_dir": "b"}}),
    ("/release", {"json": {"dicts": {"f": ["a.pt", "a.json"]}}}),
    ("/release", {"json": {"dicts": {}, "version": "1"}}),
    ("/release", {"json": {"dicts": {"f": ["a.pt"]}, "version": "1"}}),
    ("/release", {"json": {"dicts": {"f": ["a.pt", "a.json"]}, "version": "1", "adcode": "beijing"}}),
])
def test_bad_bodies_answer_400(api: TestClient, path: str, kwargs: dict) -> None:
    envelope(api.post(path, **kwargs), 400)


def test_release_pages_and_models_when_nothing_is_trained(api: TestClient) -> None:
    body = envelope(api.get("/release_tab", params={"page": 1}), 1)
    assert body["data"] == [] and body["total"] == 1
    envelope(api.get("/release_tab", params={"page": 0}), 400)
    assert ok(api.get("/compat/autosele/model")) == []
    envelope(api.post("/release", json={"dicts": {"f": ["a.pt", "a.json"]}, "version": "1"}), 404)
    assert api.get("/models", params={"stage": "released"}).json() == {"models": []}


def test_evaluation_records_are_numbered_like_every_other_record(api: TestClient, actx: Platform) -> None:
    """/eva_rate's `id` is an integer (the run's number, oldest first), its `task_id` the run's task id."""
    from raysight.services import tasks
    from raysight.services.autosele import evaluation

    params = {"type": "remote", "sour_dir": "src", "dest_dir": "out", "gpus": "", "single_gpu": 4,
              "model": [{"task_name": "shapes", "file": "kd_shapes_ep_0006.pt"}], "images": 3}
    runs = [tasks.create(ctx=actx, kind=evaluation.KIND, task_id=f"eva_{i}", params=params) for i in range(2)]
    for number, task_id in enumerate(runs, start=1):
        record = ok(api.post("/eva_rate", json={"task_id": task_id}))
        assert record["id"] == number and record["task_id"] == task_id
