"""The PaddleX client flow end to end against the session's Serve application, for a detection and a
classification project on small generated data: create dataset -> import (from a folder under the import
roots) -> split -> details -> project -> bind -> params -> task -> train -> metrics -> stop/resume -> predict
(the drawn result fetched through /file) -> evaluate -> evaluate/file (xlsx opened) -> export infer and
lite -> prune analysis -> prune task -> model records -> deletes; the train/evaluate/predict path of both
segmentation project types; import paths outside the roots. Requests carry JSON bodies on GET and DELETE,
as the PaddleX client does."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.datagen import image_bytes, make_classify_images, make_detection_images
from tests.paddlex_gen import class_folders, voc_folder

pytestmark = pytest.mark.slow

DETECT_TRAIN = {"model": "yolov8n.pt", "num_epochs": 14, "batch_size": 8, "learning_rate": 0.003,
                "image_shape": [128, 128],
                "params": {"mosaic": 0.0, "nbs": 8, "warmup_epochs": 1, "optimizer": "AdamW", "plots": False}}
CLASSIFY_TRAIN = {"model": "resnet18", "num_epochs": 6, "batch_size": 16, "learning_rate": 0.001,
                  "image_shape": [64, 64]}


def call(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = http.request(method, path, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def ok(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    out = call(http, method, path, body)
    assert out["status"] == 1, (method, path, out)
    return out


def fail(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None, words: str = "") -> str:
    out = call(http, method, path, body)
    assert out["status"] == -1 and words.lower() in out["message"].lower(), (method, path, out)
    return out["message"]


def until(probe, timeout: float = 400, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out; last: {last}")


def _flow(http: httpx.Client, roots: Path, kind: str) -> None:
    detect = kind == "detection"
    folder = voc_folder(roots / "px_voc", n=64) if detect else class_folders(roots / "px_cls", per_class=20)
    train = DETECT_TRAIN if detect else CLASSIFY_TRAIN

    did = ok(http, "POST", "/dataset", {"name": f"{kind} shapes", "desc": "generated", "dataset_type": kind})["did"]
    ok(http, "PUT", "/dataset", {"did": did, "path": str(folder)})
    ds = until(lambda: (d := ok(http, "GET", "/dataset", {"did": did}))["dataset_status"] in (4, 5) and d)
    assert ds["dataset_status"] == 4, ds  # XCOPYDONE
    ok(http, "PUT", "/dataset/split", {"did": did, "val_split": 0.25, "test_split": 0.1})
    details = ok(http, "GET", "/dataset/details", {"did": did})["details"]
    assert len(details["val_files"]) >= 3 and sorted(details["labels"]) == sorted(
        ["square", "circle"] if detect else ["square", "circle", "triangle"])

    pid = ok(http, "POST", "/project", {"name": f"{kind} project", "desc": "", "project_type": kind})["pid"]
    ok(http, "PUT", "/workspace", {"struct": "project", "id": pid, "attr_dict": {"did": did}})
    params = ok(http, "GET", "/project/task/params", {"pid": pid, "model_type": train["model"]})["train"]
    assert params["model"] == train["model"]
    tid = ok(http, "POST", "/project/task", {"pid": pid, "train": {**params, **train}, "desc": "first"})["tid"]
    ok(http, "POST", "/project/task/train", {"tid": tid})

    # stop once checkpoints are saved (Ray Train registers a reported checkpoint a moment later: the
    # resumable epoch after the stop is the last registered one), resume from that epoch, train to the end
    until(lambda: ok(http, "GET", "/project/task", {"tid": tid, "resume": True})["max_saved_epochs"] >= 2,
          every=0.2)
    ok(http, "PUT", "/project/task/train", {"tid": tid, "act": "stop"})
    stopped = until(lambda: (t := ok(http, "GET", "/project/task", {"tid": tid, "resume": True}))[
        "task_status"] == 8 and t)  # XTRAINEXIT
    assert stopped["resumable"] is True and stopped["max_saved_epochs"] >= 1, stopped
    ok(http, "PUT", "/project/task/train", {"tid": tid, "act": "resume", "epoch": stopped["max_saved_epochs"]})
    done = until(lambda: (t := ok(http, "GET", "/project/task", {"tid": tid}))["task_status"] in (4, 10) and t)
    assert done["task_status"] == 4, done  # XTRAINDONE
    log = ok(http, "GET", "/project/task/metrics", {"tid": tid, "type": "train"})["train_log"]
    assert log["epoch"] == train["num_epochs"] and log["eval_metrics"] and log["train_metrics"], log
    page = http.get(ok(http, "GET", "/project/task/vdl", {"tid": tid})["url"])
    assert page.status_code == 200 and "<svg" in page.text

    # predict: a new image, drawn predictions fetched back through /file
    if detect:
        image = image_bytes(make_detection_images(1, size=128, seed=99)[0].image)
    else:
        image = image_bytes(make_classify_images(1, seed=99)["circle"][0])
    pred = ok(http, "POST", "/project/task/predict", {"tid": tid, "image_data": base64.b64encode(image).decode(),
                                                     "score_thresh": 0.25})
    assert pred["predictions"], pred
    assert ok(http, "GET", "/project/task/predict", {"tid": tid})["predict_status"] == 1  # XPREDONE
    drawn = ok(http, "GET", "/file", {"path": pred["path"]})["img_data"]
    assert Image.open(io.BytesIO(base64.b64decode(drawn))).size[0] in (64, 128)

    # evaluate -> xlsx
    ok(http, "POST", "/project/task/evaluate", {"tid": tid, "epoch": None, "topk": 2, "score_thresh": None,
                                               "overlap_thresh": None})
    ev = until(lambda: (e := ok(http, "GET", "/project/task/evaluate", {"tid": tid}))["evaluate_status"] != 11 and e)
    assert ev["evaluate_status"] == 5, ev  # XEVALUATED
    headline = ev["result"]["metrics"]
    assert (headline.get("mAP50", 0) if detect else headline.get("top1", 0)) >= 0.5, headline
    assert ok(http, "GET", "/project/task/metrics", {"tid": tid, "type": "eval"})["eval_metrics"]["metrics"]
    xlsx = ok(http, "GET", "/project/task/evaluate/file", {"tid": tid})["path"]
    import openpyxl

    book = openpyxl.load_workbook(xlsx)
    cells = [str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert any("square" in c for c in cells), cells[:20]

    # export infer (ONNX) and lite (int8 ONNX)
    for kind_ in ("infer", "lite"):
        save = str(roots / f"px_export_{kind}_{kind_}")
        out = ok(http, "POST", "/project/task/export", {"tid": tid, "type": kind_, "save_dir": save})
        ex = until(lambda: (e := ok(http, "GET", "/project/task/export", {"tid": tid}))["export_status"] != 0 and e)
        assert ex["export_status"] == 1, ex  # XPREDONE
        assert any(p.suffix == ".onnx" for p in Path(save).rglob("*")), out
    result = ok(http, "GET", "/project/task/export", {"tid": tid, "quant": "result"})["quant_result"]
    assert result, result
    fail(http, "POST", "/project/task/export", {"tid": tid, "type": "infer", "save_dir": "/etc/px"}, "outside")
    # the task keeps its final epoch's model only: another epoch is refused, not exported as if it were
    fail(http, "POST", "/project/task/export", {"tid": tid, "type": "infer", "epoch": "999"}, "final epoch")

    # pruning: analysis of the trained model (ResNet: layer1..4, top-1; YOLO: backbone / neck / head, mAP50-95),
    # then a prune task fine-tuning the pruned model
    ok(http, "POST", "/project/task/prune", {"tid": tid})
    pr = until(lambda: (p := ok(http, "GET", "/project/task/prune", {"tid": tid}))["prune_status"] in (2, 3) and p)
    assert pr["prune_status"] == 2, pr  # XSPRUNEDONE
    sens = ok(http, "GET", "/project/task/metrics", {"tid": tid, "type": "sensitivities"})["sensitivities_loss_img"]
    table = sens["sensitivities"]
    assert table["metric"] == ("mAP50-95" if detect else "top1") and table["baseline"] > 0, table
    assert table["groups"] == (["backbone", "neck", "head"] if detect else ["layer1", "layer2", "layer3", "layer4"])
    assert all(len(table["loss"][g]) == len(table["ratios"]) for g in table["groups"]), table
    assert Image.open(io.BytesIO(base64.b64decode(sens["img_data"]))).format == "PNG"
    ptid = ok(http, "POST", "/project/task", {"pid": pid, "parent_id": tid, "train": {**train, "num_epochs": 2}})["tid"]
    ok(http, "POST", "/project/task/train", {"tid": ptid, "eval_metric_loss": 1.0})
    plog = until(lambda: (p := ok(http, "GET", "/project/task/metrics", {"tid": ptid, "type": "prune"})[
        "prune_log"])["status"] in ("completed", "failed") and p)
    assert plog["status"] == "completed", plog
    result = plog["result"]
    assert result["params_after"] < 0.9 * result["params_before"] and result["size_after"] < result["size_before"], plog
    assert result["metric"]["name"] == table["metric"] and result["metric"]["fine_tuned"] is not None, plog
    pruned = ok(http, "GET", "/project/task", {"tid": ptid})
    assert pruned["task_status"] == 4 and pruned["attr"]["parent_id"] == tid, pruned  # XTRAINDONE

    # model records
    pmid = ok(http, "POST", "/model", {"pid": pid, "tid": tid, "name": "mine", "type": "pretrained"})["pmid"]
    emid = ok(http, "POST", "/model", {"pid": pid, "tid": tid, "name": "onnx", "type": "exported",
                                      "path": ok(http, "GET", "/project/task/export", {"tid": tid})["save_dir"],
                                      "exported_type": 1})["emid"]
    one = ok(http, "GET", "/model", {"mid": pmid})
    assert one["dataset_attr"]["id"] == did and one["task_params"]["model"] == train["model"] and one["eval_result"]
    assert [m["id"] for m in ok(http, "GET", "/model", {"type": "exported"})["exported_models"]] == [emid]
    ok(http, "DELETE", "/model", {"type": "pretrained", "pmid": pmid})
    ok(http, "DELETE", "/model", {"type": "exported", "emid": emid})
    fail(http, "GET", "/model", {"mid": pmid}, "not found")
    ok(http, "DELETE", "/project/task", {"tid": tid})
    ok(http, "DELETE", "/project", {"pid": pid})
    ok(http, "DELETE", "/dataset", {"did": did})
    fail(http, "GET", "/project/task", {"tid": tid}, "not found")


@pytest.fixture
def roots(import_root: Path) -> Path:
    return import_root


def test_paddlex_detection_flow(http: httpx.Client, roots: Path) -> None:
    _flow(http, roots, "detection")


def test_paddlex_classification_flow(http: httpx.Client, roots: Path) -> None:
    _flow(http, roots, "classification")


def test_paddlex_import_refuses_paths_outside_the_roots(http: httpx.Client, roots: Path,
                                                        tmp_path: Path) -> None:
    did = ok(http, "POST", "/compat/paddlex/dataset", {"name": "x", "dataset_type": "classification"})["did"]
    class_folders(tmp_path / "elsewhere", per_class=3)
    for path in (str(tmp_path / "elsewhere"), str(roots / ".." / ".."), "../../etc"):
        fail(http, "PUT", "/compat/paddlex/dataset", {"did": did, "path": path}, "outside the allowed import roots")
    fail(http, "GET", "/compat/paddlex/nothing/here", None, "unknown path")
    fail(http, "GET", "/compat/paddlex/project/task", {"tid": "T9999"}, "not found")
    ok(http, "DELETE", "/compat/paddlex/dataset", {"did": did})


SEG_TRAIN = {
    "segmentation": {"model": "lraspp_mobilenet_v3_large", "num_epochs": 3, "batch_size": 8, "learning_rate": 0.003,
                     "image_shape": [128, 128]},
    "instance_segmentation": {"model": "yolov8n-seg.pt", "num_epochs": 3, "batch_size": 8, "learning_rate": 0.003,
                              "image_shape": [128, 128],
                              "params": {"mosaic": 0.0, "nbs": 8, "warmup_epochs": 1, "optimizer": "AdamW",
                                         "plots": False}},
}


@pytest.mark.parametrize("kind", ["segmentation", "instance_segmentation"])
def test_paddlex_segmentation_train_evaluate_predict(http: httpx.Client, roots: Path, kind: str) -> None:
    """Both segmentation project types: import -> split -> train -> evaluate -> predict (outlines drawn)."""
    from tests.datagen import make_segmentation_images
    from tests.paddlex_gen import seg_folder

    folder = seg_folder(roots / f"px_{kind}", "semantic" if kind == "segmentation" else "instance")
    did = ok(http, "POST", "/dataset", {"name": kind, "dataset_type": kind})["did"]
    ok(http, "PUT", "/dataset", {"did": did, "path": str(folder)})
    ds = until(lambda: (d := ok(http, "GET", "/dataset", {"did": did}))["dataset_status"] in (4, 5) and d)
    assert ds["dataset_status"] == 4, ds
    ok(http, "PUT", "/dataset/split", {"did": did, "val_split": 0.25, "test_split": 0})
    details = ok(http, "GET", "/dataset/details", {"did": did})["details"]
    first = details["train_files"][0]
    assert details["file_info"][first].endswith(".png" if kind == "segmentation" else ".txt")
    drawn = ok(http, "GET", "/file", {"path": str(Path(ds["attr"]["path"]) / first), "did": did})["img_data"]
    assert Image.open(io.BytesIO(base64.b64decode(drawn))).size == (128, 128)
    pid = ok(http, "POST", "/project", {"name": kind, "project_type": kind})["pid"]
    ok(http, "PUT", "/workspace", {"struct": "project", "id": pid, "attr_dict": {"did": did}})
    tid = ok(http, "POST", "/project/task", {"pid": pid, "train": SEG_TRAIN[kind]})["tid"]
    ok(http, "POST", "/project/task/train", {"tid": tid})
    done = until(lambda: (t := ok(http, "GET", "/project/task", {"tid": tid}))["task_status"] in (4, 10) and t)
    assert done["task_status"] == 4, (done, ok(http, "GET", "/project/task/metrics", {"tid": tid, "type": "train"}))
    ok(http, "POST", "/project/task/evaluate", {"tid": tid})
    ev = until(lambda: (e := ok(http, "GET", "/project/task/evaluate", {"tid": tid}))["evaluate_status"] != 11 and e)
    assert ev["evaluate_status"] == 5 and ev["result"]["metrics"], ev
    image = image_bytes(make_segmentation_images(1, 128, 77, ("square", "triangle"))[0][0])
    pred = ok(http, "POST", "/project/task/predict", {"tid": tid, "image_data": base64.b64encode(image).decode(),
                                                     "score_thresh": 0.05})
    assert Path(pred["path"]).is_file() and isinstance(pred["predictions"], list)
    ok(http, "DELETE", "/project", {"pid": pid})
    ok(http, "DELETE", "/dataset", {"did": did})
