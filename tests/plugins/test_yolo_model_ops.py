"""YOLO evaluation and export on a YOLOv8n trained in the test session: ultralytics' metrics on the
version's val split, a report whose confusion matrix counts the split's boxes, ONNX with the same raw
outputs as PyTorch, int8 smaller with its mAP drop measured by the same validator (services, no Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raysight.context import Platform
from raysight.model_ops import ExportFormat
from raysight.services import evaluation, exports, models, reports
from raysight.services.model_tasks import eval_data
from tests.model_ops_helpers import Trained, install

pytestmark = pytest.mark.slow


def test_yolo_evaluate_export_and_int8(ctx: Platform, trained_yolo_files: Trained, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    model = install(ctx, trained_yolo_files)
    mid = model["model_id"]
    data = eval_data(ctx, model)
    report = evaluation.evaluate_model(ctx=ctx, model_id=mid, data=data)
    assert report.task == "detect" and report.split == "val" and report.n_images > 0
    assert report.metrics["mAP50"] >= 0.7 and 0 < report.metrics["mAP50-95"] <= report.metrics["mAP50"]
    assert [r.name for r in report.per_class] == ["square", "circle"]
    assert all(r.support > 0 and 0 <= r.values["ap50"] <= 1 for r in report.per_class)
    matrix = np.array(report.confusion)
    assert report.confusion_labels == ["square", "circle", "background"] and matrix.shape == (3, 3)
    # every ground-truth box is in the true rows: found (a class column) or missed (background column)
    assert matrix[:2].sum() == sum(r.support for r in report.per_class)
    assert np.trace(matrix[:2, :2]) >= 0.7 * matrix[:2].sum()
    book = load_workbook(reports.write_eval_xlsx(report, tmp_path / "r.xlsx"))
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["mAP50"] == pytest.approx(report.metrics["mAP50"])

    onnx = exports.export_model(ctx=ctx, model_id=mid, fmt=ExportFormat.ONNX, data=data, task_id="task_yolo_onnx",
                                progress=lambda _v: None)
    assert onnx["parity"]["ok"] and onnx["parity"]["max_rel_diff"] <= 1e-3, onnx["parity"]
    assert Path(onnx["path"]).is_file() and onnx["artifact"]["format"] == "onnx"
    same = evaluation.evaluate_model(ctx=ctx, model_id=mid, data=data, weights=onnx["path"])
    assert same.metrics["mAP50"] == pytest.approx(report.metrics["mAP50"], abs=0.02)

    int8 = exports.export_model(ctx=ctx, model_id=mid, fmt=ExportFormat.ONNX_INT8, data=data,
                                task_id="task_yolo_int8", progress=lambda _v: None)
    assert int8["quantization"]["mode"] == "static" and int8["size_bytes"] < 0.6 * onnx["size_bytes"]
    accuracy = int8["accuracy"]
    assert accuracy["drop"]["mAP50"] == pytest.approx(accuracy["reference"]["mAP50"] - accuracy["exported"]["mAP50"])
    assert accuracy["exported"]["mAP50"] >= 0.5
    assert [a["format"] for a in models.artifacts(ctx=ctx, model_id=mid)] == ["onnx", "onnx_int8"]
