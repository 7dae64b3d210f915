"""The filerec dialect without Ray: every path in both mounts, its envelope for wrong methods,
unknown ids and bad bodies (never a 500, never FastAPI's {"detail"}), parameters, and the task
loop's per-file reporting when no recognizer deployment exists."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from raysight import defaults
from tests.filerec_gen import page, png, zip_bytes

GET = ["/detect/result", "/task/get_tasks", "/task/completed", "/task/single_task", "/training_model/get_datasets",
       "/model/get_models", "/monitor/is_detect_worker_alive", "/monitor/is_training_model_alive",
       "/managers/get_datasets", "/managers/get_models"]
POST = ["/upload_package", "/task/add_task", "/task/cancel_task", "/task/delete_task",
        "/training_model/set_parameters", "/training_model/upload_model", "/training_model/upload_datasets",
        "/managers/delete_dataset", "/managers/delete_model"]


def envelope(resp, code: str) -> dict:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.json()
    assert "detail" not in body and isinstance(body["message"], str), body
    assert body["error_code"] == code, body
    if code != "1000":
        assert body["message"], body
    return body


def test_all_19_paths_in_both_mounts_answer_wrong_methods_in_the_envelope(client) -> None:
    assert len(GET) + len(POST) == 19
    for prefix in ("", "/compat/filerec"):
        for path in GET:
            body = envelope(client.post(prefix + path, json={}), "1007")
            assert "POST" in body["message"]
            envelope(client.delete(prefix + path), "1007")
        for path in POST:
            resp = client.get(prefix + path)
            envelope(resp, "1007")
            assert resp.headers["allow"] == "POST"
            envelope(client.put(prefix + path, json={}), "1007")


def test_unknown_ids(client) -> None:
    for prefix in ("", "/compat/filerec"):
        envelope(client.get(f"{prefix}/detect/result"), "1002")  # no task yet
        envelope(client.get(f"{prefix}/detect/result", params={"task_id": "filerec_nope"}), "1002")
        envelope(client.request("GET", f"{prefix}/task/single_task", json={"task_id": "filerec_nope"}), "1002")
        envelope(client.post(f"{prefix}/task/cancel_task", json={"task_id": "filerec_nope"}), "1002")
        envelope(client.post(f"{prefix}/task/delete_task", json={"task_id": 12345}), "1002")
        envelope(client.post(f"{prefix}/task/add_task", json={"task_id": "t1", "package_task_id": "nope"}), "1002")
        envelope(client.post(f"{prefix}/managers/delete_dataset", json={"dataset_id": "ds_nope"}), "1002")
        envelope(client.post(f"{prefix}/managers/delete_model", json={"model_id": "model_nope"}), "1002")
        envelope(client.post(f"{prefix}/training_model/set_parameters", json={"model_id": "model_nope"}), "1002")
        envelope(client.post(f"{prefix}/training_model/set_parameters", json={"dataset_id": "ds_nope"}), "1002")


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/task/cancel_task", {"json": {}}),
    ("/task/cancel_task", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("/task/delete_task", {"json": ["task_id"]}),
    ("/task/delete_task", {"json": {"task_id": ""}}),
    ("/managers/delete_dataset", {"json": {"dataset": "x"}}),
    ("/managers/delete_model", {"json": {"model_id": None}}),
    ("/training_model/set_parameters", {"json": {}}),
    ("/training_model/set_parameters", {"json": {"epochs": 0}}),
    ("/training_model/set_parameters", {"json": {"batch": 0}}),
    ("/training_model/set_parameters", {"json": {"conf": 1.5}}),
    ("/training_model/set_parameters", {"json": {"learning_rate": "fast"}}),
    ("/training_model/set_parameters", {"json": {"colour": "blue"}}),
    ("/upload_package", {"json": {"file": "x.zip"}}),
    ("/upload_package", {"files": {"file": ("p.zip", b"not a zip", "application/zip")}}),
    ("/upload_package", {"files": {"file": ("p.zip", zip_bytes({"../evil.png": b"x"}), "application/zip")}}),
    ("/upload_package", {"files": {"file": ("p.zip", zip_bytes({}), "application/zip")}}),
    ("/upload_package", {"files": {"a": ("a.zip", b"1"), "b": ("b.zip", b"2")}}),
    ("/training_model/upload_model", {"files": {"file": ("w.bin", b"weights", "application/octet-stream")}}),
    ("/training_model/upload_datasets", {"files": {"file": ("d.zip", b"nope", "application/zip")}}),
    ("/task/single_task", {}),
    ("/task/add_task", {"json": {"task_id": "x" * 65}}),
])
def test_bad_bodies(client, path: str, kwargs: dict) -> None:
    method = "GET" if path in GET else "POST"
    body = envelope(client.request(method, path, **kwargs), "1001")
    assert "Traceback" not in body["message"]


def test_set_parameters_validates_and_persists(client, ctx) -> None:
    body = envelope(client.post("/training_model/set_parameters",
                                json={"epochs": 3, "batch_size": 4, "lr": 0.01, "conf": 0.4}), "1000")
    assert body["parameters"]["training"]["epochs"] == 3 and body["parameters"]["training"]["batch"] == 4
    assert body["parameters"]["training"]["learning_rate"] == 0.01
    assert body["parameters"]["recognizer"] == {"model_id": "ocr", "conf": 0.4, "iou": 0.7}
    # form fields work as well, and what was set before stays
    body = envelope(client.post("/compat/filerec/training_model/set_parameters", data={"imgsz": "320"}), "1000")
    assert body["parameters"]["training"]["imgsz"] == 320 and body["parameters"]["training"]["epochs"] == 3
    from raysight.services.filerec import parameters

    assert parameters.load(ctx=ctx)["training"]["imgsz"] == 320


def _wait(client, task_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = envelope(client.get("/task/single_task", params={"task_id": task_id}), "1000")
        if body["status"] not in ("pending", "running", "cancelling"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end: {body}")


def test_package_task_without_recognizer_deployment(client) -> None:
    """Without Serve the OCR deployment is missing: the task fails with that reason; the non-document
    file before it is reported unsupported, the image stays pending (never silently dropped)."""
    package = zip_bytes({"a_notes.txt": b"plain text", "b_scan.png": png(page(["HELLO"]))})
    body = envelope(client.post("/upload_package", files={"file": ("docs.zip", package, "application/zip")},
                                data={"task_id": "my-task-1"}), "1000")
    assert body["task_id"] == "my-task-1" and body["files"] == 2 and body["recognizer"] == "ocr"
    task = _wait(client, "my-task-1")
    assert task["status"] == "failed" and "deployment" in task["error"]
    files = {f["file"]: f for f in task["files"]}
    assert files["a_notes.txt"]["status"] == "unsupported" and "PDF" in files["a_notes.txt"]["reason"]
    assert files["b_scan.png"]["status"] == "pending"
    # the same id again is a conflict; delete works on an ended task; lists show it until then
    envelope(client.post("/upload_package", files={"file": ("docs.zip", package)}, data={"task_id": "my-task-1"}),
             "1003")
    listed = envelope(client.get("/task/get_tasks"), "1000")
    assert [t["task_id"] for t in listed["tasks"]] == ["my-task-1"] and listed["tasks"][0]["total"] == 2
    assert envelope(client.get("/task/completed"), "1000")["tasks"] == []
    result = envelope(client.request("GET", "/detect/result", json={"task_id": "my-task-1"}), "1000")
    assert result["task_id"] == "my-task-1" and '"unsupported"' in result["result"]
    envelope(client.post("/task/cancel_task", json={"task_id": "my-task-1"}), "1003")  # already ended
    envelope(client.post("/task/delete_task", json={"task_id": "my-task-1"}), "1000")
    envelope(client.get("/task/single_task", params={"task_id": "my-task-1"}), "1002")


def test_only_other_files_complete_and_add_task_reuses_the_package(client) -> None:
    package = zip_bytes({"x/readme.md": b"# hi", "data.csv": b"a,b\n1,2\n"})
    first = envelope(client.post("/upload_package", files={"file": ("p.zip", package)}), "1000")["task_id"]
    assert _wait(client, first)["status"] == "completed"
    again = envelope(client.post("/task/add_task", json={"task_id": "again-1"}), "1000")
    assert again["task_id"] == "again-1" and again["files"] == 2
    task = _wait(client, "again-1")
    assert task["status"] == "completed" and task["file_status"] == {"unsupported": 2}
    assert [t["task_id"] for t in envelope(client.get("/task/completed"), "1000")["tasks"]] == ["again-1", first]
    envelope(client.post("/task/add_task", json={"task_id": "again-1"}), "1003")


def test_monitor_without_ray_reports_not_alive(client) -> None:
    body = envelope(client.get("/monitor/is_detect_worker_alive"), "1000")
    assert body["alive"] is False and body["deployment"] == "ocr"
    body = envelope(client.get("/compat/filerec/monitor/is_training_model_alive"), "1000")
    assert body["alive"] is False and "supervisor" in body["reason"]


def test_empty_catalog_lists(client) -> None:
    for path in ("/training_model/get_datasets", "/managers/get_datasets"):
        assert envelope(client.get(path), "1000")["datasets"] == []
    for path in ("/model/get_models", "/managers/get_models"):
        assert envelope(client.get(path), "1000")["models"] == []


def test_broken_pdf_is_reported_and_the_task_goes_on(client) -> None:
    from tests.filerec_gen import pdf

    package = zip_bytes({"a_broken.pdf": b"%PDF-1.4\nnot really a pdf", "b_empty.bin": b"",
                         "c_fake.png": b"\x89PNG\r\n\x1a\n truncated", "d/e_ok.pdf.txt": pdf([page(["X"])])[:40]})
    task_id = envelope(client.post("/upload_package", files={"file": ("p.zip", package)}), "1000")["task_id"]
    task = _wait(client, task_id)
    assert task["status"] == "completed", task
    files = {f["file"]: f for f in task["files"]}
    assert files["a_broken.pdf"]["status"] == "failed" and "PDF" in files["a_broken.pdf"]["reason"]
    assert files["c_fake.png"]["status"] == "failed" and files["c_fake.png"]["reason"]
    assert files["b_empty.bin"]["status"] == "unsupported"
    assert files["d/e_ok.pdf.txt"]["status"] == "failed"  # a PDF by its bytes, whatever its name (cut short)
    assert task["processed"] == task["total"] == 4


def test_training_tasks_beside_recognition_tasks(client) -> None:
    """add_task with task_type training starts a platform training job from the set parameters;
    without Ray no trainer takes it, so it stays queued until it is cancelled (stopped)."""
    from PIL import Image

    envelope(client.post("/task/add_task", json={"task_id": "t", "task_type": "training"}), "1001")  # no dataset
    archive = zip_bytes({**{f"document/d{i}.png": png(page([f"DOC {i}"], size=(96, 64))) for i in range(5)},
                         **{f"photo/p{i}.png": png(Image.new("RGB", (96, 64), (i * 40, 90, 20))) for i in range(5)}})
    ds = envelope(client.post("/training_model/upload_datasets", files={"file": ("ds.zip", archive)}), "1000")
    assert ds["dataset"]["task_type"] == "classify" and ds["dataset"]["versions"] == ["v1"]
    envelope(client.post("/training_model/set_parameters", json={"dataset_id": ds["dataset_id"], "epochs": 2}), "1000")
    started = envelope(client.post("/task/add_task", json={"task_id": "ignored", "task_type": "training",
                                                            "imgsz": 64}), "1000")
    job_id = started["task_id"]
    assert started["task_type"] == "training" and started["status"] == "queued" and job_id.startswith("job_")
    task = envelope(client.get("/task/single_task", params={"task_id": job_id}), "1000")
    assert task["status"] == "queued" and task["epochs"] == 2 and task["dataset_id"] == ds["dataset_id"]
    listed = envelope(client.get("/task/get_tasks"), "1000")["tasks"]
    assert [(t["task_id"], t["task_type"]) for t in listed] == [(job_id, "training")]
    envelope(client.post("/managers/delete_dataset", json={"dataset_id": ds["dataset_id"]}), "1003")  # in use
    envelope(client.post("/task/delete_task", json={"task_id": job_id}), "1003")  # still queued
    assert envelope(client.post("/task/cancel_task", json={"task_id": job_id}), "1000")["status"] == "stopped"
    envelope(client.post("/task/cancel_task", json={"task_id": job_id}), "1003")
    envelope(client.post("/task/delete_task", json={"task_id": job_id}), "1000")
    envelope(client.get("/task/single_task", params={"task_id": job_id}), "1002")
    # a value cleared with null goes back to its default, and training still starts
    cleared = envelope(client.post("/training_model/set_parameters", json={"epochs": None, "imgsz": None}), "1000")
    assert cleared["parameters"]["training"]["epochs"] == defaults.TRAIN_EPOCHS
    assert cleared["parameters"]["training"]["imgsz"] == defaults.TRAIN_IMGSZ
    job_id = envelope(client.post("/task/add_task", json={"task_type": "training"}), "1000")["task_id"]
    assert envelope(client.get("/task/single_task", params={"task_id": job_id}), "1000")["epochs"] == (
        defaults.TRAIN_EPOCHS)
    envelope(client.post("/task/cancel_task", json={"task_id": job_id}), "1000")


def test_page_sizes_are_capped(tmp_path: Path) -> None:
    """A PDF page's size is the file's word: a 100 x 100 inch page renders within MAX_INFER_PIXELS, not
    at 144 dpi (207 MP); an image file over RAYSIGHT_MAX_IMAGE_PIXELS is refused before it is decoded."""
    from PIL import Image

    from raysight.errors import TooLarge
    from raysight.imaging import MAX_INFER_PIXELS
    from raysight.services.filerec import documents

    pdf = tmp_path / "huge.pdf"
    Image.new("RGB", (100, 100), (255, 255, 255)).save(pdf, "PDF", resolution=1.0)  # 7200 x 7200 pt
    page = documents.render_pdf_page(pdf, 0)
    height, width = page.image.shape[:2]
    assert width * height <= MAX_INFER_PIXELS and width > 1000
    assert page.dpi == round(72 * width / 7200)
    png = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(png)
    assert documents.image_page(png, max_decode_pixels=200_000).image.shape[:2] == (300, 400)
    with pytest.raises(TooLarge):
        documents.image_page(png, max_decode_pixels=100_000)
