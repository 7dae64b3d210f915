"""Evaluation, export and the pruning sensitivity analysis of a trained ResNet through the native API
(tracked tasks in the app's event loop, no Ray): real metrics checked against their own confusion
matrix, the .xlsx opened with openpyxl, the ONNX download run with onnxruntime against PyTorch, the
int8 file's size and accuracy drop, the sensitivity table and chart; errors in the native envelope."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from raysight.context import Platform
from raysight.errors import InvalidWeights
from raysight.services import models
from raysight_resnet.model import build_resnet
from tests.model_ops_helpers import Trained, install

pytestmark = pytest.mark.slow


def wait_task(client: TestClient, url: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(url).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"{url} did not end: {client.get(url).json()}")


@pytest.fixture
def resnet(ctx: Platform, trained_resnet_files: Trained) -> dict[str, Any]:
    return install(ctx, trained_resnet_files)


def test_evaluate_resnet_and_xlsx_report(client: TestClient, resnet: dict[str, Any]) -> None:
    from openpyxl import load_workbook

    mid = resnet["model_id"]
    started = client.post(f"/models/{mid}/evaluate", json={"topk": 2})
    assert started.status_code == 200, started.text
    task = wait_task(client, f"/models/{mid}/evaluations/{started.json()['task_id']}")
    assert task["status"] == "completed", task
    report = task["result"]
    matrix = np.array(report["confusion"])
    assert report["task"] == "classify" and report["split"] == "val"
    assert report["confusion_labels"] == ["circle", "square", "triangle"]  # the dataset version's order
    assert matrix.sum() == report["n_images"] > 0
    assert report["metrics"]["top1"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert report["metrics"]["top1"] >= 0.8 and report["metrics"]["top2"] >= report["metrics"]["top1"]
    for i, row in enumerate(report["per_class"]):
        assert row["support"] == matrix[i].sum()
        assert row["values"]["recall"] == pytest.approx(matrix[i, i] / matrix[i].sum())
    assert [t["task_id"] for t in client.get(f"/models/{mid}/evaluations").json()["tasks"]] == [task["task_id"]]

    xlsx = client.get(f"/models/{mid}/evaluations/{task['task_id']}/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Summary", "Per class", "Confusion matrix"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["model_id"] == mid and summary["images"] == report["n_images"]
    assert summary["top1"] == pytest.approx(report["metrics"]["top1"])
    per_class = list(book["Per class"].iter_rows(values_only=True))
    assert per_class[0][:2] == ("class", "support")
    assert [r[0] for r in per_class[1:]] == ["circle", "square", "triangle"]
    recall_col = per_class[0].index("recall")
    assert [r[recall_col] for r in per_class[1:]] == pytest.approx(
        [r["values"]["recall"] for r in report["per_class"]])
    sheet = list(book["Confusion matrix"].iter_rows(values_only=True))
    assert list(sheet[0][1:]) == report["confusion_labels"]
    assert [list(r[1:]) for r in sheet[1:]] == report["confusion"]


def test_export_onnx_matches_pytorch_and_int8_reports_its_drop(client: TestClient, ctx: Platform,
                                                               resnet: dict[str, Any], tmp_path: Path) -> None:
    import onnxruntime as ort

    from raysight_resnet.predict import load

    mid = resnet["model_id"]
    started = client.post(f"/models/{mid}/export", json={"format": "onnx"}).json()
    task = wait_task(client, f"/models/{mid}/exports/{started['task_id']}")
    assert task["status"] == "completed", task
    result = task["result"]
    assert result["parity"]["ok"] and result["parity"]["max_abs_diff"] <= 1e-3
    listed = client.get(f"/models/{mid}/artifacts").json()["artifacts"]
    assert [a["format"] for a in listed] == ["onnx"] and listed[0]["size_bytes"] == result["size_bytes"]
    download = client.get(listed[0]["url"])
    assert download.status_code == 200 and len(download.content) == result["size_bytes"]
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(download.content)
    # our own comparison on new inputs, batch of 3 (the export has a dynamic batch axis)
    loaded = load(models.model_ref(ctx=ctx, model_id=mid), device="cpu")
    x = np.random.default_rng(7).standard_normal((3, 3, 64, 64)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        expected = loaded.net(torch.from_numpy(x)).numpy()
    assert np.abs(got - expected).max() < 1e-3

    started = client.post(f"/models/{mid}/export", json={"format": "onnx_int8"}).json()
    task = wait_task(client, f"/models/{mid}/exports/{started['task_id']}")
    assert task["status"] == "completed", task
    result = task["result"]
    assert result["quantization"]["mode"] == "static" and result["quantization"]["calibration_images"] > 0
    assert result["size_bytes"] < 0.35 * result["source_size_bytes"]
    accuracy = result["accuracy"]
    assert accuracy["drop"]["top1"] == pytest.approx(accuracy["reference"]["top1"] - accuracy["exported"]["top1"])
    assert accuracy["exported"]["top1"] >= 0.6
    formats = [a["format"] for a in client.get(f"/models/{mid}/artifacts").json()["artifacts"]]
    assert formats == ["onnx", "onnx_int8"]


def test_prune_sensitivity_analysis_and_chart(client: TestClient, resnet: dict[str, Any]) -> None:
    mid = resnet["model_id"]
    started = client.post(f"/models/{mid}/prune/analysis", json={"ratios": [0.6, 0.2], "groups": ["layer4"]})
    assert started.status_code == 200, started.text
    task = wait_task(client, f"/models/{mid}/prune/analysis/{started.json()['task_id']}")
    assert task["status"] == "completed", task
    found = task["result"]
    assert found["ratios"] == [0.2, 0.6] and found["groups"] == ["layer4"] and found["metric"] == "top1"
    assert set(found["loss"]["layer4"]) == {"0.2", "0.6"}
    params = found["params"]["layer4"]
    assert params["0.6"] < params["0.2"] < sum(p.numel() for p in build_resnet("resnet18", 3).parameters())
    chart = client.get(found["chart"])
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.post(f"/models/{mid}/operations/{task['task_id']}/cancel").status_code == 409  # ended


def test_model_operation_errors_are_native(client: TestClient, resnet: dict[str, Any]) -> None:
    mid = resnet["model_id"]
    assert client.post("/models/model_nope/evaluate", json={}).status_code == 404
    bad = client.post(f"/models/{mid}/export", json={"format": "tflite"})
    assert bad.status_code == 422 and "detail" in bad.json()
    assert client.post(f"/models/{mid}/evaluate", json={"split": "test"}).status_code == 400  # no test split
    assert client.post(f"/models/{mid}/evaluate", json={"dataset_id": "ds_nope"}).status_code == 404
    assert client.post(f"/models/{mid}/prune", json={"ratio": 1.5}).status_code == 422
    unknown_group = client.post(f"/models/{mid}/prune/analysis", json={"groups": ["layer9"]})
    assert unknown_group.status_code == 400 and "layer9" in unknown_group.json()["detail"]
    assert client.get(f"/models/{mid}/evaluations/task_nope").status_code == 404
    assert client.get(f"/models/{mid}/evaluations/task_nope/report.xlsx").status_code == 404
    assert client.get(f"/models/{mid}/artifacts/x.onnx").status_code == 404
    assert client.post(f"/models/{mid}/operations/task_nope/cancel").status_code == 404


def test_pruned_weights_are_rebuilt_from_checked_channel_counts(resnet: dict[str, Any], ctx: Platform,
                                                                tmp_path: Path) -> None:
    from raysight_resnet.model import read_weights
    from raysight_resnet.prune import prune

    ref = models.model_ref(ctx=ctx, model_id=resnet["model_id"])
    out = prune(ref, ratio=0.5, output=tmp_path / "pruned.pth", groups=["layer3", "layer4"])
    assert out.params_after < out.params_before * 0.6 and out.size_after < out.size_before
    weights = read_weights(out.path)
    assert weights.channels is not None and weights.channels["layer4.0.conv1"][0] == 256
    net = weights.build()
    net.load_state_dict(weights.state_dict)
    assert sum(p.numel() for p in net.parameters()) == out.params_after
    saved = torch.load(out.path, weights_only=True)
    saved["channels"]["layer4.0.conv1"] = [9999, 256]  # more channels than the architecture has
    torch.save(saved, tmp_path / "tampered.pth")
    with pytest.raises(InvalidWeights):
        read_weights(tmp_path / "tampered.pth")
