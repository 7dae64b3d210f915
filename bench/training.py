"""Benchmark: the same YOLO job through the platform (services + Ray Train, cluster already up) and
through ultralytics' own `model.train` in this environment. Prints both wall times and the ratio.

    python bench/training.py [--epochs 45] [--images 64] [--imgsz 128] [--batch 8]

45 epochs make the plain run about a minute on 2 CPU cores (the size the goal is stated for). The
platform time runs from create_job to the job's `completed` status (Ray Train worker start-up,
per-epoch checkpoints and the model registration included); the plain time is YOLO(...).train().
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raysight.settings import Settings, apply_process_env, ray_env  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the one training worker (and of torch in plain)")
    ns = p.parse_args()
    apply_process_env()

    import ray
    import torch

    from raysight.context import Platform
    from raysight.services import datasets, training
    from raysight.training.client import TrainerClient
    from tests.datagen import reader_over, write_yolo_zip

    root = Path(tempfile.mkdtemp(prefix="raysight_bench_"))
    ctx = Platform.create(Settings(workspace=root / "ws", train_cpus_per_worker=ns.cpus))
    archive = write_yolo_zip(root / "shapes.zip", ns.images, size=ns.imgsz)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    data_yaml = datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])["data_yaml"]
    params = {"plots": False, "nbs": ns.batch, "warmup_epochs": 1, "mosaic": 0.0, "workers": 0}

    # plain ultralytics, same options (amp off, no plots, same project layout)
    from ultralytics import YOLO

    torch.set_num_threads(ns.cpus)
    started = time.monotonic()
    model = YOLO("yolov8n.yaml")
    model.train(data=data_yaml, epochs=ns.epochs, imgsz=ns.imgsz, batch=ns.batch, device="cpu", amp=False,
                verbose=False, project=str(root / "plain"), name="yolo", exist_ok=True, **params)
    plain = time.monotonic() - started
    plain_map = float(model.trainer.metrics.get("metrics/mAP50(B)", 0.0))

    ray.init(num_cpus=ns.cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": ray_env()})
    client = TrainerClient.attach(ctx)
    ray.get(client.actor().warmed.remote())  # a platform that is up and idle when the job arrives
    started = time.monotonic()
    job_id = training.create_job(ctx=ctx, dataset_id=ds["dataset_id"], model_name="yolov8n.pt", epochs=ns.epochs,
                                 imgsz=ns.imgsz, batch=ns.batch, params=params)["job_id"]
    while (job := training.get_job(ctx=ctx, job_id=job_id))["status"] in ("queued", "running"):
        time.sleep(0.2)
    platform = time.monotonic() - started
    assert job["status"] == "completed", job
    from raysight.services import models

    platform_map = models.get(ctx=ctx, model_id=job["model_id"])["metrics"].get("mAP50")
    ray.shutdown()
    print(f"YOLO {ns.epochs} epochs, {ns.images} images at {ns.imgsz}px, batch {ns.batch}, {ns.cpus} CPUs")
    print(f"ultralytics model.train : {plain:7.1f} s  (mAP50 {plain_map:.3f})")
    print(f"raysight (Ray Train job): {platform:7.1f} s  (mAP50 {platform_map:.3f})")
    print(f"ratio platform / plain  : {platform / plain:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
