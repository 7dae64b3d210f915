"""What answers when nothing was trained or downloaded, without Ray: the classical region segmenter
(SAM without official weights), the built-in component classifier, and the training records the
imgseg dialect reports (every field of the document's resnetTrainProgress example)."""

from __future__ import annotations

import random

import numpy as np
from fastapi.testclient import TestClient

from raysight.context import Platform
from raysight.services import training
from raysight.services.imgseg import classical, classify
from raysight.services.imgseg.components import TextLine
from tests.imgseg_gen import LABELS, iou, png_bytes, screenshot, widget_crop


def xyxy(bbox: list[int]) -> tuple[int, int, int, int]:
    x, y, w, h = bbox
    return x, y, x + w, y + h


def test_a_point_gives_the_widget_under_it_not_the_image() -> None:
    image, widgets = screenshot()
    H, W = image.shape[:2]
    for w in (w for w in widgets if w.type in ("Button", "Input", "Bar")):
        point = [(w.box[0] + w.box[2]) / 2, (w.box[1] + w.box[3]) / 2]
        res = classical.prompt(image, [point], [1], [])
        assert res["segmenter"] == "classical-regions" and len(res["masks"]) == 1
        m = res["masks"][0]
        assert iou(w.box, xyxy(m["bbox"])) > 0.85, (w, m["bbox"])
        if w.type != "Bar":
            assert m["bbox"][2] * m["bbox"][3] < 0.1 * W * H
        assert m["mask"].shape == (H, W) and m["mask"][int(point[1]), int(point[0])]


def test_negative_points_and_background() -> None:
    image, widgets = screenshot()
    submit = next(w for w in widgets if w.type == "Button")
    # a negative point inside the button rules the button out: what is left is the area of the
    # positive point's colour minus the negative point's (here nothing: one fill)
    res = classical.prompt(image, [[130, 446], [300, 486]], [1, 1], [])["masks"][0]
    assert iou(submit.box, xyxy(res["bbox"])) > 0.85
    cut = classical.prompt(image, [[130, 446], [300, 486]], [1, 0], [])["masks"][0]
    assert cut["regions"] == [] and not cut["mask"][486, 300] and cut["area"] < res["area"]
    background = classical.prompt(image, [[20, 700]], [1], [])["masks"][0]
    assert background["regions"] == [] and not background["mask"][446, 130]  # the page, minus the button
    assert background["area"] > 0.5 * image.shape[0] * image.shape[1]


def test_a_box_gives_the_regions_in_it() -> None:
    image, widgets = screenshot()
    buttons = [w for w in widgets if w.type == "Button"]
    res = classical.prompt(image, [], [], [[100, 420, 560, 500], [600, 560, 700, 640]])
    both, empty = res["masks"]
    assert len(both["regions"]) == 2
    for w in buttons:
        assert max(iou(w.box, xyxy(r)) for r in both["regions"]) > 0.85
    assert iou((min(w.box[0] for w in buttons), 440, max(w.box[2] for w in buttons), 492), xyxy(both["bbox"])) > 0.85
    assert empty["regions"] == [] and empty["score"] == 0.0 and empty["prompt_box"] == [600, 560, 700, 640]


def test_automatic_gives_every_shape() -> None:
    image, widgets = screenshot()
    res = classical.auto(image)
    assert res["segmenter"] == "classical-regions"
    boxes = [xyxy(m["bbox"]) for m in res["masks"]]
    for w in widgets:
        if w.type != "Text":
            assert max(iou(w.box, b) for b in boxes) > 0.85, w


def _text_lines(kind: str, crop: np.ndarray) -> list[TextLine]:
    """Where the generator wrote a word (every kind but Image), as OCR would report a line."""
    h, w = crop.shape[:2]
    return [] if kind == "Image" else [TextLine((4, h // 4, max(5, w // 2), 3 * h // 4), "word")]


def test_builtin_classifier_on_crops() -> None:
    rng = random.Random(11)
    hits = total = 0
    for kind in LABELS:
        for _ in range(12):
            crop = np.asarray(widget_crop(kind, rng).convert("RGB"))
            label, conf = classify.crop_type(crop, _text_lines(kind, crop))
            hits += label == kind
            total += 1
            assert 0 < conf <= 1
    assert hits / total >= 0.9, hits / total


def test_builtin_classifier_on_a_page() -> None:
    image, widgets = screenshot()
    shown = [w for w in widgets if w.type in ("Button", "Input", "Bar", "Text")]
    # the OCR lines: a Text widget is one; a bar's title, a caption, a placeholder sit inside theirs
    lines = [TextLine(w.box if w.type == "Text" else (w.box[0] + 32, w.box[1] + 12, w.box[0] + 160, w.box[3] - 12),
                      w.text) for w in widgets if w.text]
    labels = classify.builtin_types(image, [w.box for w in shown], lines)
    assert [lab for lab, _ in labels] == [w.type for w in shown]


def _ok(body: dict) -> dict:
    assert body["code"] == 100 and body["status"] == 200, body
    return body["payload"]


def test_training_progress_has_every_documented_field(ctx: Platform, client: TestClient) -> None:
    rng = random.Random(2)
    dataset = {}
    for kind in ("Button", "Input"):
        for i in range(5):
            name = f"{kind}_{i}.png"
            (ctx.workspace.uploads / name).write_bytes(png_bytes(widget_crop(kind, rng)))
            dataset[f"{kind}{i}"] = {"url": f"/uploads/{name}", "component_type": kind}
    _ok(client.post("/imgSeg/v1/getTrainData", json={"user_id": "u7", "dataset": dataset}).json())
    started = _ok(client.post("/imgSeg/v1/resnetTrainStart", json={"user_id": "u7", "task_type": "train",
                                                                   "train_params": {"epochs": 3}}).json())
    task_id = started["train_task_id"]
    assert task_id.startswith("Train-imgseg-") and started["task_status"] == 300
    doc_fields = {"train_task_id": str, "user_id": str, "task_type": str, "task_status": int, "acc": float,
                  "loss": float, "epoch": int, "modelEpoch": int, "labels": list, "singleAcc": list,
                  "dataset_num": int, "valAccList": list, "valLossList": list}

    def progress(task: str) -> dict:
        p = _ok(client.post("/imgSeg/v1/resnetTrainProgress", json={"train_task_id": task, "task_type": "train"})
                .json())
        for name, kind in doc_fields.items():
            assert isinstance(p.get(name), kind), (name, p.get(name))
        return p

    before = progress(task_id)
    assert before["user_id"] == "u7" and before["labels"] == ["Button", "Input"] and before["dataset_num"] == 10
    assert (before["acc"], before["loss"], before["epoch"], before["modelEpoch"], before["singleAcc"]) == (
        0.0, 0.0, 0, 0, [])
    # the worker's reports, as the resnet plugin sends them
    job_id = before["job_id"]
    training.record_epoch(ctx=ctx, job_id=job_id, epoch=1, checkpointed=True, eta_s=None, metrics={
        "loss": 0.9, "val_loss": 0.7, "accuracy": 0.5, "class_acc/Button": 1.0, "class_acc/Input": 0.0})
    training.record_epoch(ctx=ctx, job_id=job_id, epoch=2, checkpointed=True, eta_s=None, metrics={
        "loss": 0.5, "val_loss": 0.4, "accuracy": 0.75, "class_acc/Button": 1.0, "class_acc/Input": 0.5})
    training.record_epoch(ctx=ctx, job_id=job_id, epoch=3, checkpointed=True, eta_s=None, metrics={
        "loss": 0.3, "val_loss": 0.45, "accuracy": 0.75, "class_acc/Input": 0.5})
    # the document's other spelling of the id names the same training
    after = progress("Train-imgSeg-" + task_id[len("Train-imgseg-"):])
    assert after["train_task_id"] == task_id and after["epoch"] == 3
    assert after["valAccList"] == [0.5, 0.75, 0.75] and after["valLossList"] == [0.7, 0.4, 0.45]
    # the saved model is the first epoch with the best accuracy, as the trainer keeps it
    assert (after["acc"], after["loss"], after["modelEpoch"], after["singleAcc"]) == (0.75, 0.4, 2, [1.0, 0.5])
    # as a model id it is known, but has no model until the job completes: 805, not a made-up answer
    body = client.post("/imgSeg/v1/predictResnet", json={"image_url_list": ["/uploads/Button_0.png"],
                                                         "model_id": "Train-imgSeg-" + task_id[13:]}).json()
    assert body["code"] == -3000 and body["payload"]["err"] == 805 and "no model" in body["payload"]["detail"]
    other_case = task_id.upper()[:13] + task_id[13:]
    skipped = _ok(client.post("/imgSeg/v1/resnetTrainSkip", json={"train_task_id": other_case}).json())
    assert skipped["user_id"] == "u7" and skipped["task_status"] in (500, 300)
