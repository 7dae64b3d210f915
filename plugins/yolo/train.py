"""YOLO training inside one Ray Train worker, with ultralytics.

- Start: the job's weights (a pretrained file from the weights folder, or a registered model when
  fine-tuning); else the architecture's YAML (yolov8n.pt -> yolov8n.yaml) with fresh weights.
  Nothing is downloaded (YOLO_OFFLINE, amp off on CPU). A channel-pruned start model (raysight_yolo.prune)
  is trained as it is, not rebuilt from its yaml (raysight_yolo.pruned_model), on start and on resume.
- Threads: a CPU job trains on as many torch threads as it holds whole CPUs, or on ultralytics' own
  choice (min(8, cores - 1)) where that is more.
- Every epoch: ultralytics' last.pt (weights + optimizer + epoch) becomes a Ray Train checkpoint and
  the epoch's losses, precision, recall, mAP50, mAP50-95 are reported.
- Resume: the last checkpoint's last.pt is put back and ultralytics resumes from it, so the epoch
  count, optimizer and EMA continue.
- End: best.pt, the plots ultralytics wrote and the final metrics are returned as the TrainResult.

One worker per job: ultralytics would start its own DDP when it sees RANK/WORLD_SIZE, so those
variables of the Ray Train worker are removed before ultralytics is imported.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from raysight.plugin import TrainResult, TrainSession, count_params

PLOT_FILES = ("results.png", "confusion_matrix.png", "confusion_matrix_normalized.png", "BoxPR_curve.png",
              "BoxF1_curve.png", "BoxP_curve.png", "BoxR_curve.png", "MaskPR_curve.png", "MaskF1_curve.png",
              "MaskP_curve.png", "MaskR_curve.png", "labels.jpg", "results.csv")
# ultralytics' option names that a job's params may set
PASSTHROUGH = ("patience", "optimizer", "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "mosaic",
               "close_mosaic", "fliplr", "flipud", "degrees", "translate", "scale", "hsv_h", "hsv_s", "hsv_v",
               "cos_lr", "cache", "rect", "single_cls", "fraction", "freeze", "dropout", "deterministic", "plots",
               "workers", "seed", "val", "save_period", "amp", "nbs", "warmup_bias_lr", "box", "cls", "dfl")
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK")


def _single_process() -> None:
    """ultralytics reads these once at import; as a Ray Train worker it must run as a plain process."""
    for var in DIST_VARS:
        os.environ.pop(var, None)


def fresh_config(model_name: str) -> str:
    """yolov8n.pt -> yolov8n.yaml (ultralytics builds the architecture without weights)."""
    return f"{Path(model_name).stem}.yaml"


def epoch_metrics(trainer: Any) -> dict[str, float]:
    """The epoch's losses and validation metrics under the platform's names."""
    out: dict[str, float] = {}
    for key, value in trainer.label_loss_items(trainer.tloss, prefix="train").items():
        out[key.split("/", 1)[1]] = float(value)
    out.update(final_metrics(trainer.metrics or {}))
    for key, value in (trainer.metrics or {}).items():
        if key.startswith("val/"):
            out["val_" + key.split("/", 1)[1]] = float(value)
    return out


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Box metrics under the detection names; a segmentation model's mask metrics as mask_<name>."""
    names = {"metrics/precision(B)": "precision", "metrics/recall(B)": "recall",
             "metrics/mAP50(B)": "mAP50", "metrics/mAP50-95(B)": "mAP50-95",
             "metrics/precision(M)": "mask_precision", "metrics/recall(M)": "mask_recall",
             "metrics/mAP50(M)": "mask_mAP50", "metrics/mAP50-95(M)": "mask_mAP50-95"}
    return {ours: float(metrics[theirs]) for theirs, ours in names.items() if theirs in metrics}


def task_of(config: dict[str, Any]) -> str:
    """ultralytics' task for the job: segment for instance segmentation, else detect."""
    return "segment" if config.get("task_type") == "instance_segment" else "detect"


def data_yaml(data: str) -> str:
    """The version's data.yaml (a job may name the version folder instead)."""
    path = Path(data)
    return str(path / "data.yaml") if path.is_dir() else data


class _Forward(logging.Handler):
    """ultralytics' log messages (dataset scan, warnings, validation tables) into the job log."""

    def __init__(self, session: TrainSession) -> None:
        super().__init__(logging.INFO)
        self.session = session

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                message = f"WARNING: {message}"
            self.session.log(message)
        except Exception:
            pass


def train_loop(config: dict[str, Any]) -> TrainResult:
    _single_process()
    session = TrainSession.for_config(config)
    c = session.ctx
    params = dict(c.params)
    task = task_of(config)
    data = data_yaml(c.data)

    from ultralytics import YOLO
    from ultralytics.utils import LOGGER

    from raysight_yolo.pruned_model import is_pruned, structure_keeping_trainer
    from raysight_yolo.safe_load import enforce, open_model

    enforce()  # every checkpoint ultralytics reads in this worker (start weights, resume) is a weights_only load

    work = Path(c.output_dir)
    save_dir = work / "yolo"
    last = save_dir / "weights" / "last.pt"
    resume_from = 0
    with session.restored() as (folder, epoch):
        if folder is not None and (folder / "last.pt").is_file():
            last.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / "last.pt", last)
            resume_from = epoch
    if resume_from:
        model = open_model(last, task)
    elif c.weights:
        model = open_model(c.weights, task)
    else:
        session.log(f"No pretrained weights for {c.model_name}: building {fresh_config(c.model_name)} "
                    "with fresh weights")
        model = YOLO(fresh_config(c.model_name), task=task)

    def on_fit_epoch_end(trainer: Any) -> None:
        done = int(trainer.epoch) + 1
        if done > int(trainer.epochs):  # ultralytics' final validation of best.pt, not an epoch
            return
        folder = None
        if Path(trainer.last).is_file():
            folder = session.scratch(f"epoch{done}")
            shutil.copy2(trainer.last, folder / "last.pt")
        session.report(done, epoch_metrics(trainer), folder)

    pruned = is_pruned(model.model)
    if pruned:  # ultralytics would rebuild it from its yaml (un-pruning it): train the pruned model itself
        session.log(f"Fine-tuning a channel-pruned {c.model_name}: {count_params(model.model)} parameters")

    def use_the_cpus(trainer: Any) -> None:
        """ultralytics sets torch's threads to min(8, cores - 1) whatever the job holds: a CPU job that
        holds more whole CPUs than that trains on all of them (never on fewer than ultralytics' choice)."""
        import torch

        if trainer.device.type == "cpu":
            torch.set_num_threads(max(torch.get_num_threads(), session.cpu_threads))
            session.log(f"Training on the CPU with {torch.get_num_threads()} torch thread(s)")

    model.add_callback("on_pretrain_routine_start", use_the_cpus)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    device = "0" if session.use_gpu else "cpu"
    args: dict[str, Any] = {
        "data": data, "epochs": c.epochs, "imgsz": c.imgsz, "batch": c.batch, "device": device,
        "project": str(work), "name": "yolo", "exist_ok": True, "save_dir": str(save_dir),
        "amp": device != "cpu", "verbose": False, "plots": True, "workers": 2,
    }
    args.update({k: params[k] for k in PASSTHROUGH if k in params})
    keep_structure = {"trainer": structure_keeping_trainer(model.task_map[task]["trainer"])} if pruned else {}
    handler = _Forward(session)
    LOGGER.addHandler(handler)
    try:
        if resume_from:
            keep = ("imgsz", "batch", "device", "workers", "plots", "save_dir", "patience", "cache")
            model.train(resume=True, data=data, **keep_structure, **{k: args[k] for k in keep if k in args})
        else:
            model.train(**args, **keep_structure)
    finally:
        LOGGER.removeHandler(handler)
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    plots = [Path(trainer.save_dir) / name for name in PLOT_FILES if not name.endswith(".csv")]
    return TrainResult(weights=best, metrics=final_metrics(trainer.metrics or {}),
                       plots=[p for p in plots if p.is_file()], epoch=int(trainer.epoch) + 1)
