"""YOLO evaluation and export on a YOLOv8n trained in the test session: ultralytics' metrics on the
version's val split, a report whose confusion matrix counts the split's boxes, ONNX with the same raw
outputs as PyTorch, int8 smaller with its mAP drop measured by the same validator (services, no Ray)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from raysight.context import Platform
from raysight.errors import InvalidWeights
from raysight.model_ops import EvalOptions, ExportFormat
from raysight.plugin import PredictOptions
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


def test_yolo_sensitivity_and_pruned_checkpoint(ctx: Platform, trained_yolo_files: Trained, tmp_path: Path) -> None:
    """torch-pruning on a trained YOLOv8n: mAP50-95 lost per group, a pruned file that the safe loader and
    check_weights accept (ultralytics' classes only, channels consistent), and that predicts and evaluates."""
    import torch

    from raysight.model_ops import Prunable
    from raysight.plugin import count_params
    from raysight.services.model_tasks import model_and_ref
    from raysight_yolo.backend import YoloSegBackend
    from raysight_yolo.predict import load, predict
    from raysight_yolo.prune import GROUPS
    from raysight_yolo.pruned_model import is_pruned
    from raysight_yolo.safe_load import load_checkpoint
    from tests.datagen import make_detection_images

    model, ref = model_and_ref(ctx, install(ctx, trained_yolo_files)["model_id"])
    backend = ctx.plugins.backends["yolo"]
    assert backend.prune_groups() == GROUPS == ["backbone", "neck", "head"]
    assert isinstance(backend, Prunable) and not isinstance(YoloSegBackend(), Prunable)  # no mask-head pruning
    data = eval_data(ctx, model)
    seen: list[float] = []
    found = backend.sensitivity(ref, data=data, ratios=[0.5], groups=["backbone", "head"], progress=seen.append)
    assert found.metric == "mAP50-95" and found.baseline >= 0.3 and found.groups == ["backbone", "head"]
    whole = count_params(load_checkpoint(ref.weights_path)["model"])
    assert all(0 < found.params[g]["0.5"] < whole for g in found.groups)
    assert found.loss["backbone"]["0.5"] > 0.05  # half the backbone's channels gone, untrained: it shows
    assert seen[-1] == 1.0
    chart = reports.write_sensitivity_chart(found, tmp_path / "sens.png")
    assert chart.stat().st_size > 1000

    pruned = backend.prune(ref, ratio=0.3, output=tmp_path / "pruned.pth")
    assert pruned.path.endswith(".pt") and pruned.groups == GROUPS
    assert pruned.params_after < 0.75 * pruned.params_before and pruned.size_after < pruned.size_before
    net = load_checkpoint(pruned.path)["model"]  # both safe-load gates: weights_only, ultralytics' classes
    assert is_pruned(net) and count_params(net) == pruned.params_after
    info = backend.check_weights(Path(pruned.path))
    assert info.format == "ultralytics checkpoint (channel-pruned)" and info.classes == ["square", "circle"]
    # a C2f whose halves disagree with its channels is refused, not loaded
    broken = load_checkpoint(pruned.path)
    block = next(m for m in broken["model"].modules() if type(m).__name__ == "C2f")
    block.cv2.conv.weight = torch.nn.Parameter(block.cv2.conv.weight.data[:, :-1].clone())
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(InvalidWeights, match="do not fit together"):
        backend.check_weights(tmp_path / "broken.pt")

    pruned_ref = replace(ref, model_id="model_pruned", weights_path=pruned.path)
    served = load(pruned_ref, device="cpu")
    image = np.asarray(make_detection_images(1, size=128, seed=7, classes=["square", "circle"])[0].image)
    assert isinstance(predict(served, [image], PredictOptions(conf=0.01)), list)
    report = backend.evaluate(pruned_ref, data=data, options=EvalOptions())
    assert 0.0 <= report.metrics["mAP50-95"] <= 1.0 and report.n_images == found.n_images
