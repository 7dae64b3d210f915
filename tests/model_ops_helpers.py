"""Tiny real models for the model-operation tests (evaluate, export, prune), trained in the test
process on generated data and registered with their prepared dataset version, like a finished job's.

Each is trained once per test session (`trained_resnet` ~5 s, `trained_yolo` ~30 s on 2 cores) into a
session folder; `install` copies one into a test's own Platform.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from raysight.context import Platform
from raysight.services import datasets, models
from tests.datagen import make_classify_images, reader_over, write_classify_zip, write_yolo_zip

RESNET_CLASSES = ["square", "circle", "triangle"]
YOLO_CLASSES = ["square", "circle"]


@dataclass(frozen=True)
class Trained:
    """Weights and the archive of the dataset they were trained on."""

    weights: Path
    archive: Path
    plugin: str
    task_type: str
    classes: list[str]
    imgsz: int
    model_name: str


def train_resnet(folder: Path) -> Trained:
    """resnet18 at 64 px, 6 epochs over 30 generated images (3 classes): top-1 near 1 on held-out ones."""
    import numpy as np
    import torch

    from raysight_resnet.model import build_resnet, save_weights
    from raysight_resnet.predict import preprocess

    folder.mkdir(parents=True, exist_ok=True)
    archive = write_classify_zip(folder / "cls.zip", 12, classes=RESNET_CLASSES, size=64, seed=1)  # unseen images
    torch.manual_seed(0)
    per_class = make_classify_images(10, classes=RESNET_CLASSES, size=64, seed=0)
    x = torch.from_numpy(preprocess([np.asarray(im) for c in RESNET_CLASSES for im in per_class[c]], 64))
    y = torch.tensor([i for i, c in enumerate(RESNET_CLASSES) for _ in per_class[c]])
    net = build_resnet("resnet18", len(RESNET_CLASSES))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for _epoch in range(6):
        order = torch.randperm(len(y))
        net.train()
        for start in range(0, len(y), 16):
            idx = order[start:start + 16]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    weights = folder / "best.pth"
    save_weights(weights, arch="resnet18", classes=RESNET_CLASSES, state_dict=net.eval().state_dict(), imgsz=64)
    return Trained(weights, archive, "resnet", "classify", RESNET_CLASSES, 64, "resnet18")


def train_yolo(folder: Path) -> Trained:
    """YOLOv8n at 128 px, 30 epochs over 64 generated images of squares and circles."""
    from ultralytics import YOLO

    from tests.datagen import make_detection_images, yolo_line

    folder.mkdir(parents=True, exist_ok=True)
    archive = write_yolo_zip(folder / "det.zip", 40, size=128, seed=5, classes=YOLO_CLASSES)  # unseen images
    root = folder / "train_data"
    for split, n, seed in (("train", 64, 0), ("val", 8, 1)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, (im, boxes) in enumerate(make_detection_images(n, size=128, seed=seed, classes=YOLO_CLASSES)):
            im.save(root / "images" / split / f"{i}.jpg")
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(yolo_line(b, 128, 128) for b in boxes))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {YOLO_CLASSES}\n")
    model = YOLO("yolov8n.yaml")
    model.train(data=str(root / "data.yaml"), epochs=30, imgsz=128, batch=16, workers=0, plots=False, val=False,
                device="cpu", project=str(root / "runs"), name="r", exist_ok=True, verbose=False, amp=False, seed=0)
    weights = folder / "best.pt"
    shutil.copy2(root / "runs" / "r" / "weights" / "last.pt", weights)
    return Trained(weights, archive, "yolo", "detect", YOLO_CLASSES, 128, "yolov8n.pt")


def install(ctx: Platform, trained: Trained) -> dict:
    """Upload and prepare the model's dataset in `ctx`, copy the weights in and register them as a
    model trained on that version. Returns the model record."""
    archive = trained.archive
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    version = datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])["version"]
    model_id = models.new_model_id()
    dest = ctx.workspace.model_dir(model_id) / "weights" / f"best{trained.weights.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(trained.weights, dest)
    return models.register(
        ctx=ctx, model_id=model_id, plugin=trained.plugin, task_type=trained.task_type, weights_path=dest,
        classes=trained.classes, name=f"{trained.model_name} test", dataset_id=ds["dataset_id"],
        params={"model_name": trained.model_name, "imgsz": trained.imgsz, "version": version},
    )
