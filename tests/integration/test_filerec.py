"""The filerec dialect end to end against the session's Serve application: a package of generated
document images, a two-page PDF and a non-document file is read by OCR; a running task is
cancelled and deleted; a classifier trained here is uploaded, used as the recognizer and protected
from deletion while in use; a dataset is imported and managed; both workers report alive.
A second test stops a recognizer deployment and a training supervisor of its own and sees the
liveness answers change (the session's shared ones are left alone)."""

from __future__ import annotations

import asyncio
import io
import time

import numpy as np
import pytest
from PIL import Image

from tests.filerec_gen import page, pdf, png, zip_bytes

pytestmark = pytest.mark.slow
DOCS = {"a_invoice.png": ["INVOICE NUMBER 4711", "TOTAL AMOUNT 99"],
        "b_letter.jpg": ["DEAR CUSTOMER", "KIND REGARDS"]}
PDF_PAGES = [["FIRST PAGE HEADER"], ["SECOND PAGE FOOTER"]]


def ok(resp) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["error_code"] == "1000" and body["message"] == "", body
    return body


def err(resp, code: str) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["error_code"] == code and body["message"], body
    return body


def jpg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def noise(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))


def wait(http, task_id: str, until=lambda t: t["status"] not in ("pending", "running", "cancelling"),
         timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    task: dict = {}
    while time.monotonic() < deadline:
        task = ok(http.get("/task/single_task", params={"task_id": task_id}))
        if until(task):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id}: {task}")


def reads(text: str, lines: list[str]) -> bool:
    """Every drawn line is in the OCR text (spaces aside: PP-OCR often drops them between words)."""
    squashed = "".join(text.upper().split())
    return all("".join(line.split()) in squashed for line in lines)


def classifier_weights() -> bytes:
    """A ResNet-18 (32 px) trained here in a few steps to tell printed pages from noise photos, saved
    the way the resnet plugin stores models. BatchNorm statistics are recomputed on the training batch
    after each step, so eval mode (what serving uses) sees what training saw."""
    import torch
    import torchvision

    from raysight_resnet.predict import preprocess

    torch.manual_seed(0)
    docs = [np.asarray(page([f"LINE {i} OF TEXT", "MORE WORDS HERE"])) for i in range(8)]
    photos = [np.asarray(noise(i)) for i in range(8)]
    x = torch.from_numpy(preprocess(docs + photos, 32))
    y = torch.tensor([0] * 8 + [1] * 8)
    held_out = torch.from_numpy(preprocess([np.asarray(page(["INVOICE 12", "HELD OUT"])), np.asarray(noise(50))], 32))
    net = torchvision.models.resnet18(weights=None, num_classes=2)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(20):
        net.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one pass gives the batch's exact statistics
        with torch.no_grad():
            net(x)
            net.eval()
            if (net(x).argmax(1) == y).all() and net(held_out).argmax(1).tolist() == [0, 1]:
                break
        for m in norms:
            m.momentum = 0.1
    else:
        raise AssertionError("the document/photo classifier did not learn")
    buf = io.BytesIO()
    torch.save({"arch": "resnet18", "classes": ["document", "photo"], "state_dict": net.state_dict(),
                "imgsz": 32}, buf)
    return buf.getvalue()


def test_filerec_flow(http) -> None:
    # -- recognition: images, a two-page PDF, a non-document file ---------------------------------------
    files = {"a_invoice.png": png(page(DOCS["a_invoice.png"])), "b_letter.jpg": jpg(page(DOCS["b_letter.jpg"])),
             "c_report.pdf": pdf([page(lines) for lines in PDF_PAGES]), "d_notes.txt": b"no document here",
             "e_photo.png": png(noise(99))}
    started = ok(http.post("/upload_package", files={"file": ("docs.zip", zip_bytes(files), "application/zip")}))
    task_id = started["task_id"]
    assert started["files"] == 5 and started["recognizer"] == "ocr"
    task = wait(http, task_id)
    assert task["status"] == "completed" and task["progress"] == 1.0, task
    result = ok(http.get("/compat/filerec/detect/result", params={"task_id": task_id}))
    assert result["task_id"] == task_id and isinstance(result["result"], str)
    by_file = {f["file"]: f for f in result["files"]}
    for name, lines in DOCS.items():
        entry = by_file[name]
        assert entry["status"] == "done" and entry["type"] == "image" and len(entry["pages"]) == 1
        assert reads(entry["text"], lines), entry["text"]
        assert all(len(line["box"]) == 4 and line["box"][2] > line["box"][0] for line in entry["pages"][0]["lines"])
    report = by_file["c_report.pdf"]
    assert report["status"] == "done" and report["type"] == "pdf" and report["page_count"] == 2
    for got, lines in zip(report["pages"], PDF_PAGES, strict=True):
        assert reads(got["text"], lines), got
        assert got["dpi"] == 144
    assert by_file["d_notes.txt"]["status"] == "unsupported" and by_file["d_notes.txt"]["reason"]
    assert "INVOICE" in result["result"] and "unsupported" in result["result"]
    assert task_id in [t["task_id"] for t in ok(http.get("/task/completed"))["tasks"]]
    assert ok(http.get("/detect/result"))["task_id"] in {task_id}  # the newest task by default

    # -- cancel stops real work; delete refuses a running task, then removes it ---------------------------
    many = {f"p{i:02d}.png": png(page([f"PAGE {i} OF MANY", "SOME MORE WORDS"])) for i in range(30)}
    long_id = ok(http.post("/upload_package", files={"file": ("many.zip", zip_bytes(many))},
                           data={"task_id": "filerec-cancel-me"}))["task_id"]
    wait(http, long_id, until=lambda t: t["processed"] >= 1)
    err(http.post("/task/delete_task", json={"task_id": long_id}), "1003")
    assert ok(http.post("/task/cancel_task", json={"task_id": long_id}))["status"] == "cancelling"
    cancelled = wait(http, long_id)
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["file_status"].get("pending", 0) > 0 and cancelled["file_status"].get("done", 0) >= 1
    err(http.post("/task/cancel_task", json={"task_id": long_id}), "1003")
    ok(http.post("/task/delete_task", json={"task_id": long_id}))
    err(http.get("/task/single_task", params={"task_id": long_id}), "1002")
    assert long_id not in [t["task_id"] for t in ok(http.get("/task/get_tasks"))["tasks"]]

    # -- a model: upload, use as the recognizer, refused deletion while in use ----------------------------
    up = ok(http.post("/training_model/upload_model",
                      files={"file": ("doc_classifier.pth", classifier_weights(), "application/octet-stream")}))
    model_id = up["model_id"]
    assert model_id in [m["model_id"] for m in ok(http.get("/model/get_models"))["models"]]
    assert model_id in [m["model_id"] for m in ok(http.get("/managers/get_models"))["models"]]
    params = ok(http.post("/training_model/set_parameters", json={"model_id": model_id, "epochs": 2}))["parameters"]
    assert params["recognizer"]["model_id"] == model_id
    again = ok(http.post("/task/add_task", json={"task_id": "filerec-by-model", "package_task_id": task_id}))
    assert again["recognizer"] == model_id
    by_model = {f["file"]: f for f in wait(http, "filerec-by-model")["files"]}
    for name in ("a_invoice.png", "b_letter.jpg"):
        assert by_model[name]["pages"][0]["predictions"][0]["class_name"] == "document", by_model[name]
    assert [p["predictions"][0]["class_name"] for p in by_model["c_report.pdf"]["pages"]] == ["document"] * 2
    assert by_model["e_photo.png"]["pages"][0]["predictions"][0]["class_name"] == "photo"
    assert by_model["d_notes.txt"]["status"] == "unsupported"
    err(http.post("/managers/delete_model", json={"model_id": model_id}), "1003")
    ok(http.post("/training_model/set_parameters", json={"model_id": "ocr"}))
    ok(http.post("/managers/delete_model", json={"model_id": model_id}))
    assert model_id not in [m["model_id"] for m in ok(http.get("/model/get_models"))["models"]]
    err(http.post("/managers/delete_model", json={"model_id": model_id}), "1002")

    # -- a dataset: import, list, refused deletion while it is the training dataset ----------------------
    archive = zip_bytes({**{f"document/d{i}.png": png(page([f"DOC {i}"])) for i in range(6)},
                         **{f"photo/p{i}.png": png(noise(i)) for i in range(6)}})
    ds = ok(http.post("/training_model/upload_datasets", files={"file": ("docs_ds.zip", archive)}))
    dataset_id = ds["dataset_id"]
    assert ds["dataset"]["versions"] == ["v1"] and ds["dataset"]["task_type"] == "classify"
    assert dataset_id in [d["dataset_id"] for d in ok(http.get("/training_model/get_datasets"))["datasets"]]
    ok(http.post("/training_model/set_parameters", json={"dataset_id": dataset_id}))
    err(http.post("/managers/delete_dataset", json={"dataset_id": dataset_id}), "1003")
    ok(http.post("/training_model/set_parameters", json={"dataset_id": None}))
    ok(http.post("/managers/delete_dataset", json={"dataset_id": dataset_id}))
    assert dataset_id not in [d["dataset_id"] for d in ok(http.get("/managers/get_datasets"))["datasets"]]

    # -- liveness of the shared platform's workers ------------------------------------------------------
    detect = ok(http.get("/monitor/is_detect_worker_alive"))
    assert detect["alive"] is True and detect["deployment"] == "ocr", detect
    training = ok(http.get("/compat/filerec/monitor/is_training_model_alive"))
    assert training["alive"] is True and "running" in training, training
    ok(http.post("/task/delete_task", json={"task_id": "filerec-by-model"}))


def _until(check, want: bool, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got["alive"] is want or time.monotonic() > deadline:
            assert got["alive"] is want, got
            return got
        time.sleep(0.5)


def test_liveness_follows_stopped_workers(server, tmp_path) -> None:
    """Own OCR deployment (a separate Serve app) and own training supervisor (own workspace): both
    answer alive, then each is stopped and the answers turn false."""
    from ray import serve

    from raysight.context import Platform
    from raysight.runtime import attach_trainer, model_catalog
    from raysight.services.filerec import monitor
    from raysight.serving.app import opts_to_args
    from raysight.serving.config import ModelDeploymentOptions
    from raysight.serving.model_deployment import ModelDeployment
    from raysight.serving.predictor import ServePredictor
    from raysight.settings import Settings

    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    try:
        opts = ModelDeploymentOptions.from_args({"num_cpus": 0.1, "num_replicas": 1}).placed(0.0)
        app = ModelDeployment.options(name="filerec_probe_ocr", **opts.deployment_kwargs()).bind(
            "ocr", ctx.settings.as_args(), opts_to_args(opts), model_catalog)
        ctx.predictor = ServePredictor({"ocr": serve.run(app, name="filerec-probe", route_prefix=None)})
        detect = _until(lambda: asyncio.run(monitor.detect_worker(ctx=ctx)), True)
        assert detect["deployment"] == "ocr" and detect["replica"]["backend"] == "ocr"
        serve.delete("filerec-probe")
        gone = _until(lambda: asyncio.run(monitor.detect_worker(ctx=ctx)), False)
        assert "ocr" in gone["reason"]

        trainer = attach_trainer(ctx)
        assert monitor.training_worker(ctx=ctx)["alive"] is True
        trainer.shutdown()
        stopped = _until(lambda: monitor.training_worker(ctx=ctx), False)
        assert stopped["reason"]
    finally:
        if "filerec-probe" in serve.status().applications:
            serve.delete("filerec-probe")
        if ctx.job_runner is not None:
            ctx.job_runner.shutdown()
        ctx.close()
