"""What a finished training hands back: `TrainResult`, the one typed object between a plugin's train
loop and the model registry (no file format for a plugin to know or for the registry to guess).

The train loop returns it (on the chief worker); the platform copies the files it names into the
run's final checkpoint together with a record of the rest (`FINAL_RECORD`, written and read only
here), and the registry reads it back with `read_final` to register the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINAL_RECORD = "meta.json"  # the platform's own record in a final checkpoint (same name as ever: old runs read)


@dataclass(frozen=True)
class TrainResult:
    """The trained model: `weights` (one file the family's `load` and `check_weights` read), the
    `metrics` to record, the `classes` in head order (None: the job's classes), `plots` (image files
    shown with the model), `epoch` (epochs done; None: the job's epochs) and `params`, stored in the
    model's record and given back in `ModelRef.params` when it is served (e.g. {"imgsz": 224})."""

    weights: Path | str
    metrics: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None
    plots: list[Path | str] = field(default_factory=list)
    epoch: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FinalRecord:
    """A TrainResult as the registry reads it back from a final checkpoint folder."""

    folder: Path
    weights: Path
    metrics: dict[str, Any]
    classes: list[str]
    plots: list[Path]
    epoch: int
    params: dict[str, Any]
    task_type: str
    model_name: str


def write_final(result: TrainResult, folder: Path, *, metrics: dict[str, Any], classes: list[str], epoch: int,
                task_type: str, model_name: str, imgsz: int) -> None:
    """Copy the result's files into `folder` and record the rest (the platform calls it on the chief)."""
    weights = Path(result.weights)
    if not weights.is_file():
        raise FileNotFoundError(f"the train loop's result names no weights file ({weights.name})")
    _copy_into(weights, folder)
    plots = []
    for plot in map(Path, result.plots):
        if plot.is_file():
            _copy_into(plot, folder)
            plots.append(plot.name)
    record = {"final": True, "epoch": epoch, "weights": weights.name, "plots": plots, "metrics": metrics,
              "classes": list(classes), "task_type": task_type, "model_name": model_name, "imgsz": imgsz,
              "params": dict(result.params)}
    (folder / FINAL_RECORD).write_text(json.dumps(record))


def _copy_into(path: Path, folder: Path) -> None:
    if path.resolve() != (folder / path.name).resolve():
        shutil.copy2(path, folder / path.name)


def read_final(folder: Path) -> FinalRecord:
    """The record `write_final` left in a final checkpoint folder."""
    meta = json.loads((Path(folder) / FINAL_RECORD).read_text())
    params = dict(meta.get("params") or {})
    params.setdefault("imgsz", meta.get("imgsz"))
    return FinalRecord(
        folder=Path(folder), weights=Path(folder) / Path(str(meta["weights"])).name,
        metrics=dict(meta.get("metrics") or {}), classes=[str(c) for c in meta.get("classes") or []],
        plots=[Path(folder) / Path(str(p)).name for p in meta.get("plots") or []], epoch=int(meta.get("epoch", 0)),
        params=params, task_type=str(meta.get("task_type") or ""), model_name=str(meta.get("model_name") or ""),
    )
