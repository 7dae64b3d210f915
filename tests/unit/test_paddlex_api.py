"""The PaddleX dialect without Ray: datasets imported from server folders (only under
RAYSIGHT_IMPORT_ROOTS), split and described; projects, tasks and parameters; files confined to the
workspace; system and demo; and the status -1 envelope for unknown ids, bad bodies, bad JSON, traversal
attempts, unknown paths under /compat/paddlex/ and wrong methods."""

from __future__ import annotations

import base64
import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings
from tests.paddlex_gen import class_folders, voc_folder


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    return root


class JsonClient:
    """Sends JSON bodies on every method, GET and DELETE included, as the PaddleX client does
    (`requests.get(url, json=...)`)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __getattr__(self, method: str):  # get / post / put / delete / patch
        def send(url: str, json: object = None, **kw: object):
            return self.client.request(method.upper(), url, json=json, **kw)
        return send


@pytest.fixture
def px(tmp_path: Path, roots: Path) -> Iterator[JsonClient]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", import_roots=str(roots)))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield JsonClient(client)
    ctx.close()


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == 1, body
    return body


def fail(resp, words: str = "") -> str:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == -1 and body["message"], body
    assert words.lower() in body["message"].lower(), body
    return body["message"]


def wait_status(px: JsonClient, did: str, done: tuple[int, ...] = (4, 5), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = ok(px.get("/dataset", json={"did": did}))
        if body["dataset_status"] in done:
            return body
        time.sleep(0.1)
    raise AssertionError(body)


def test_detection_dataset_import_split_details_project_task(px: JsonClient, roots: Path) -> None:
    voc_folder(roots / "voc", n=20)
    did = ok(px.post("/dataset", json={"name": "shapes", "desc": "d", "dataset_type": "detection"}))["did"]
    assert did == "D0001"
    assert ok(px.get("/dataset", json={"did": did}))["dataset_status"] == 0  # XEMPTY
    ok(px.put("/dataset", json={"did": did, "path": str(roots / "voc")}))
    body = wait_status(px, did)
    assert body["dataset_status"] == 4, body  # XCOPYDONE
    assert body["attr"]["type"] == "detection" and body["attr"]["id"] == did and body["attr"]["pids"] == []
    fail(px.get("/dataset/details", json={"did": did}), "not split")
    ok(px.put("/dataset/split", json={"did": did, "val_split": 0.2, "test_split": 0.1}))
    assert ok(px.get("/dataset", json={"did": did}))["dataset_status"] == 6  # XSPLITED
    details = ok(px.get("/dataset/details", json={"did": did}))["details"]
    assert sorted(details["labels"]) == ["circle", "square"]
    assert (len(details["train_files"]), len(details["val_files"]), len(details["test_files"])) == (14, 4, 2)
    first = details["train_files"][0]
    assert first.startswith("JPEGImages/") and details["file_info"][first].startswith("Annotations/")
    assert set(details["class_train_file_list"]) == {"square", "circle"}
    listed = ok(px.get("/dataset"))["datasets"]
    assert listed[0]["id"] == did and listed[0]["attr"]["dataset_status"] == 6

    # files: an image of the dataset, with its labels drawn when did is given; an xml as text
    path = str(Path(body["attr"]["path"]) / first)
    plain = ok(px.get("/file", json={"path": path}))["img_data"]
    drawn = ok(px.get("/file", json={"path": path, "did": did}))["img_data"]
    assert Image.open(io.BytesIO(base64.b64decode(drawn))).size == (128, 128) and plain != drawn
    xml = px.get("/file", json={"path": str(Path(body["attr"]["path"]) / details["file_info"][first])})
    assert xml.status_code == 200 and "<annotation>" in xml.text

    pid = ok(px.post("/project", json={"name": "p", "desc": "", "project_type": "detection"}))["pid"]
    assert pid == "P0001"
    ok(px.put("/workspace", json={"struct": "project", "id": pid, "attr_dict": {"did": did}}))
    ok(px.post("/workspace", json={"struct": "project", "id": pid, "attr_dict": {"did": did}}))  # doc's example
    assert ok(px.get("/workspace", json={"struct": "project", "id": pid, "attr_list": ["did"]}))["attr"] == {
        "did": did}
    assert ok(px.get("/dataset", json={"did": did}))["attr"]["pids"] == [pid]
    train = ok(px.get("/project/task/params", json={"pid": pid}))["train"]
    assert train["model"] == "yolov8n.pt" and train["gpu_list"] == [] and train["use_gpu"] is False
    fail(px.get("/project/task/params", json={"pid": pid, "model_type": "resnet18"}), "not a detection model")
    tid = ok(px.post("/project/task", json={"pid": pid, "train": {**train, "num_epochs": 2}}))["tid"]
    assert tid == "T0001"
    assert ok(px.get("/project/task/params", json={"tid": tid}))["train"]["num_epochs"] == 2
    ok(px.post("/project/task/params", json={"tid": tid, "train": {**train, "num_epochs": 3}}))
    task = ok(px.get("/project/task", json={"tid": tid, "resume": ""}))
    assert task["task_status"] == 1 and task["type"] == "detection"  # XINIT
    assert task["resumable"] is False and task["max_saved_epochs"] == 0
    tasks = ok(px.get("/project/task", json={"pid": pid}))["tasks"]
    assert [t["id"] for t in tasks] == [tid] and tasks[0]["pid"] == pid
    assert ok(px.get("/project", json={"id": pid}))["attr"]["tasks"] == [1]
    whole = ok(px.get("/workspace"))
    assert whole["dirname"] and list(whole["workspace"]["tasks"]) == [tid] and did in whole["workspace"]["datasets"]
    # each record with the fields paddlex-status-codes.md lists for its kind
    assert set(whole["workspace"]["datasets"][did]) == {"id", "name", "desc", "type", "path", "create_time"}
    assert whole["workspace"]["datasets"][did]["path"] == body["attr"]["path"]
    project = whole["workspace"]["projects"][pid]
    assert project["did"] == did and Path(project["path"]).is_dir()
    assert whole["workspace"]["tasks"][tid] | {"path": None, "create_time": None} == {
        "id": tid, "name": tid, "desc": "", "pid": pid, "path": None, "create_time": None, "parent_id": None}
    # native extension routes
    assert px.get("/projects").json()["projects"][0]["id"] == pid
    assert px.get(f"/projects/{pid}").json()["tasks"][0]["id"] == tid
    ok(px.post("/project/task/train", json={"tid": tid}))  # no trainer in this process: the job stays queued
    assert ok(px.get("/project/task", json={"tid": tid}))["task_status"] == 3  # XTRAINING
    fail(px.delete("/project/task", json={"tid": tid}), "stop it first")
    fail(px.put("/project/task/train", json={"tid": tid, "act": "pause"}), "act")
    ok(px.put("/project/task/train", json={"tid": tid, "act": "stop"}))
    assert ok(px.get("/project/task", json={"tid": tid}))["task_status"] == 8  # XTRAINEXIT
    fail(px.put("/project/task/train", json={"tid": tid, "act": "resume", "epoch": 5}), "from epoch 0")
    ok(px.delete("/project/task", json={"tid": tid}))
    ok(px.delete("/project", json={"pid": pid}))
    ok(px.delete("/dataset", json={"did": did}))
    fail(px.get("/dataset", json={"did": did}), "not found")


def test_classification_import_and_wrong_type(px: JsonClient, roots: Path) -> None:
    class_folders(roots / "cls", per_class=6)
    did = ok(px.post("/dataset", json={"name": "c", "dataset_type": 0}))["did"]
    ok(px.put("/dataset", json={"did": did, "path": "cls"}))  # relative to the first import root
    assert wait_status(px, did)["dataset_status"] == 4
    ok(px.put("/dataset/split", json={"did": did, "val_split": 0.3, "test_split": 0}))
    details = ok(px.get("/dataset/details", json={"did": did}))["details"]
    assert details["labels"] == ["circle", "square", "triangle"]
    assert all(v in details["labels"] for v in details["file_info"].values())
    wrong = ok(px.post("/dataset", json={"name": "w", "dataset_type": "detection"}))["did"]
    ok(px.put("/dataset", json={"did": wrong, "path": str(roots / "cls")}))
    body = wait_status(px, wrong)
    assert body["dataset_status"] == 5 and "not a detect" in body["message"]  # XCOPYFAIL


def test_error_envelope(px: JsonClient, roots: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    class_folders(outside, per_class=3)
    did = ok(px.post("/dataset", json={"name": "c", "dataset_type": "classification"}))["did"]
    for path in (str(outside), str(roots / ".." / "outside"), "../outside", "/etc"):
        fail(px.put("/dataset", json={"did": did, "path": path}), "outside the allowed import roots")
    os.symlink(outside, roots / "link")
    fail(px.put("/dataset", json={"did": did, "path": str(roots / "link")}), "outside the allowed import roots")
    fail(px.get("/dataset", json={"did": "D0999"}), "not found")
    fail(px.get("/project", json={"id": "P0042"}), "not found")
    fail(px.get("/project/task", json={"tid": "T0042"}), "not found")
    fail(px.delete("/project", json={"pid": "P0042"}), "not found")
    fail(px.get("/model", json={"mid": "PM0009"}), "not found")
    fail(px.post("/dataset", json={"name": "x", "dataset_type": "video"}), "dataset_type")
    fail(px.post("/dataset", json={"desc": "no name"}), "name")
    fail(px.put("/dataset/split", json={"did": did, "val_split": "a lot"}), "val_split")
    fail(px.put("/dataset/split", json={"did": did, "val_split": 0.2}), "no imported data")
    fail(px.post("/dataset", content=b"{not json", headers={"content-type": "application/json"}), "JSON")
    fail(px.post("/dataset", content=b"[1, 2]", headers={"content-type": "application/json"}), "object")
    fail(px.post("/project", json={"name": "p", "project_type": "classification", "desc": 5}), "desc")
    fail(px.get("/system", json={"type": "nothing"}), "type")
    fail(px.get("/project/task/metrics", json={"tid": "T0001", "type": "train"}), "not found")
    for path in ("/etc/passwd", "../../etc/hosts", str(tmp_path / "ws" / ".." / "outside" / "x.txt"),
                 str(tmp_path / "ws" / "raysight.db"), str(tmp_path / "ws" / ".secrets" / "settings.json")):
        fail(px.get("/file", json={"path": path}))
    secret = tmp_path / "secret.txt"
    secret.write_text("not for clients")
    link = tmp_path / "ws" / "dialects" / "paddlex" / "leak.txt"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, link)
    fail(px.get("/file", json={"path": str(link)}), "outside the workspace")
    fail(px.get("/file", json={"path": "dialects/paddlex/leak.txt"}), "outside the workspace")
    inside = tmp_path / "ws" / "dialects" / "paddlex" / "note.log"
    inside.write_text("line one\nline two\n")
    assert ok(px.get("/file", json={"path": str(inside)}))["lines"] == ["line one", "line two"]
    fail(px.get("/compat/paddlex/no/such/path"), "unknown path")
    fail(px.patch("/compat/paddlex/dataset", json={}), "")
    fail(px.patch("/dataset", json={}), "not allowed")
    fail(px.get("/compat/paddlex/dataset", json={"did": "D0999"}), "not found")
    # a wrong method at the root path GET /model shares with AutoSele: both envelopes, not FastAPI's 405
    for method in ("put", "patch"):
        wrong = getattr(px, method)("/model", json={})
        assert wrong.status_code == 200 and wrong.json()["status"] == -1 and wrong.json()["errno"] == 405
        assert "not allowed" in wrong.json()["message"]
        assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST", "DELETE"}  # every route at /model
    # a validation message names the field, `path` included (a field of the body, not FastAPI's location)
    assert fail(px.put("/dataset", json={"did": did})) == "path: Field required"
    assert fail(px.put("/dataset", json={"did": did, "path": 5})) == "path: Input should be a valid string"


def test_bad_bodies_are_not_logged_as_server_errors(px: JsonClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        fail(px.put("/dataset", json={"did": "D0001"}), "path")
        fail(px.post("/project", json={"name": "p", "project_type": "classification", "desc": 5}), "desc")
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()]


def test_optional_arguments_sent_as_null(px: JsonClient) -> None:
    """The PaddleX client sends None for an optional argument it leaves out (the spec's own examples)."""
    pid = ok(px.post("/project", json={"name": "p", "desc": "", "project_type": "detection"}))["pid"]
    tid = ok(px.post("/project/task", json={"pid": pid, "desc": None}))["tid"]
    assert ok(px.get("/project/task", json={"tid": tid}))["attr"]["desc"] == ""
    # resume present (even null): whether the task can resume, and from which saved epoch
    task = ok(px.get("/project/task", json={"tid": tid, "resume": None}))
    assert task["resumable"] is False and task["max_saved_epochs"] == 0
    assert "resumable" not in ok(px.get("/project/task", json={"tid": tid}))
    # export: a null quant is the default; the task has no trained model yet, which is what is refused
    fail(px.post("/project/task/export", json={"tid": tid, "type": "infer", "save_dir": None, "quant": None}),
         "no trained model")


def test_an_import_interrupted_by_a_restart_fails_and_can_be_redone(tmp_path: Path, roots: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from raysight.runtime import on_ingress_start
    from raysight.services.paddlex import datasets, records

    class_folders(roots / "cls", per_class=3)
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", import_roots=str(roots)))
    did = datasets.create(ctx=ctx, name="c", desc="", dataset_type="classification")["did"]
    datasets.prepare_import(ctx=ctx, rec=records.get(ctx=ctx, kind="dataset", code=did), source=roots / "cls")
    ctx.close()  # the process ends before the copy ran
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", import_roots=str(roots)))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        px = JsonClient(client)
        assert ok(px.get("/dataset", json={"did": did}))["dataset_status"] == 3  # XCOPYING
        # the ingress's start-up, without attaching a training supervisor to the session's cluster (if up)
        monkeypatch.setattr(ray, "is_initialized", lambda: False)
        on_ingress_start(ctx)
        body = ok(px.get("/dataset", json={"did": did}))
        assert body["dataset_status"] == 5 and "interrupted" in body["message"]  # XCOPYFAIL
        ok(px.put("/dataset", json={"did": did, "path": "cls"}))
        assert wait_status(px, did)["dataset_status"] == 4
        ok(px.delete("/dataset", json={"did": did}))
    ctx.close()


def test_system_and_demo(px: JsonClient) -> None:
    info = ok(px.get("/system", json={"type": "machine_info"}))["info"]
    assert info["cpu_num"] >= 1 and info["gpu_num"] == 0
    assert ok(px.get("/system", json={"type": "gpu_memory_size"}))["gpu_mem_infos"] == []
    fail(px.get("/demo", json={"prj_type": "detection"}), "not been downloaded")
    ok(px.post("/demo", json={"type": "download", "prj_type": 1}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        attr = ok(px.get("/demo", json={"prj_type": "detection"}))["attr"]
        if attr["status"] != 0:
            break
        time.sleep(0.1)
    assert attr == {"status": 3, "progress": 100.0, "message": ""}, attr  # XDDECOMPRESSED
    loaded = ok(px.post("/demo", json={"type": "load", "prj_type": 1}))
    project = ok(px.get("/project", json={"id": loaded["pid"]}))["attr"]
    assert project["did"] == loaded["did"] and project["type"] == "detection"
    assert ok(px.get("/dataset", json={"did": loaded["did"]}))["dataset_status"] == 6
    fail(px.post("/demo", json={"type": "load", "prj_type": "segmentation"}), "no demo")
