"""Serving benchmark: the platform against ultralytics in-process, on the same images and machine.

    python bench/serving.py [--images 48] [--size 640] [--batch 4] [--wait 0.002] [--concurrency 16]

(a) ultralytics predict in-process, one image at a time      (b) the platform over HTTP, concurrency 1
(d) ultralytics predict in-process, batches of --batch          (c) the platform over HTTP, concurrency N
video: frames/s of POST /infer/video/{id}/stream against raw batched predict on the same frames.
Goals: b/a >= 0.9, c/d >= 0.95, stream/raw >= 0.9. The script starts its own Ray + Serve app (yolo only)
on a temporary workspace; weights are an untrained YOLOv8n unless --weights is given (throughput does
not depend on what the weights learned, except for NMS on many boxes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


class Meter:
    """Images, busy seconds and per-image latencies of one configuration, summed over rounds."""

    def __init__(self, label: str) -> None:
        self.label, self.n, self.elapsed, self.lat = label, 0, 0.0, []

    def row(self) -> dict[str, float]:
        row = {"throughput": self.n / self.elapsed, "p50_ms": percentile(self.lat, 50) * 1000,
               "p99_ms": percentile(self.lat, 99) * 1000}
        print(f"{self.label:<42} {row['throughput']:8.2f} img/s   p50 {row['p50_ms']:7.1f} ms   "
              f"p99 {row['p99_ms']:7.1f} ms")
        return row


def make_images(n: int, size: int) -> list[bytes]:
    from tests.datagen import image_bytes, make_detection_images

    return [image_bytes(s.image) for s in make_detection_images(n, size=size, seed=11, classes=("square", "circle"))]


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def one_by_one(model: object, images: list[bytes], imgsz: int, meter: Meter) -> None:
    start = time.perf_counter()
    for data in images:  # decoding included: the platform decodes too
        t = time.perf_counter()
        model.predict(decode(data), imgsz=imgsz, conf=0.25, verbose=False, device="cpu")
        meter.lat.append(time.perf_counter() - t)
    meter.elapsed += time.perf_counter() - start
    meter.n += len(images)


def batched(model: object, images: list[bytes], imgsz: int, batch: int, meter: Meter) -> None:
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        t = time.perf_counter()
        chunk = [decode(d) for d in images[i:i + batch]]
        model.predict(chunk, imgsz=imgsz, conf=0.25, verbose=False, device="cpu")
        meter.lat.extend([time.perf_counter() - t] * len(chunk))
    meter.elapsed += time.perf_counter() - start
    meter.n += len(images)


async def over_http(base: str, model_id: str, images: list[bytes], concurrency: int, meter: Meter | None) -> None:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:

        async def one(data: bytes) -> None:
            async with sem:
                t = time.perf_counter()
                r = await c.post(f"/infer/{model_id}", files={"file": ("i.jpg", data, "image/jpeg")})
                r.raise_for_status()
                lat.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(one(d) for d in images))
        if meter is not None:
            meter.elapsed += time.perf_counter() - start
            meter.n += len(images)
            meter.lat.extend(lat)


def write_video(path: Path, frames: int, size: int) -> list[np.ndarray]:
    from tests.datagen import make_detection_images

    samples = [np.asarray(s.image)[..., ::-1] for s in make_detection_images(16, size=size, seed=5)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size, size))
    for i in range(frames):
        writer.write(np.ascontiguousarray(samples[i % 16]))
    writer.release()
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            return out
        out.append(frame)


def video_bench(base: str, model_id: str, model: object, frames: int, size: int, batch: int, imgsz: int) -> dict:
    path = Path(tempfile.mkdtemp()) / "v.mp4"
    decoded = write_video(path, frames, size)
    start = time.perf_counter()
    for i in range(0, len(decoded), batch):
        model.predict(decoded[i:i + batch], imgsz=imgsz, conf=0.25, verbose=False, device="cpu")
    raw = len(decoded) / (time.perf_counter() - start)
    start = time.perf_counter()
    frames_seen = 0
    with httpx.Client(base_url=base, timeout=600) as c, c.stream(
            "POST", f"/infer/video/{model_id}/stream", files={"file": ("v.mp4", path.read_bytes(), "video/mp4")}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data:") and '"frame"' in line[:20]:
                frames_seen += 1
    stream = frames_seen / (time.perf_counter() - start)
    print(f"video: raw batched predict {raw:.2f} frames/s, stream endpoint {stream:.2f} frames/s "
          f"({frames_seen} frames) -> ratio {stream / raw:.3f}")
    return {"raw_fps": raw, "stream_fps": stream, "ratio": stream / raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--wait", type=float, default=0.002)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="torch threads, both sides")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    from raysight.settings import apply_process_env, ray_env

    apply_process_env()
    import ray
    from ray import serve
    from ultralytics import YOLO

    from raysight.context import Platform
    from raysight.services import models
    from raysight.serving.app import build_app
    from raysight.settings import Settings

    workspace = Path(tempfile.mkdtemp(prefix="raysight_bench_"))
    settings = {"workspace": str(workspace), "plugins": "yolo", "max_upload_mb": 200}
    ctx = Platform.create(Settings(**settings))
    weights = args.weights or str(workspace / "fresh.pt")
    if not args.weights:
        YOLO("yolov8n.yaml").save(weights)
    model_id = models.register(ctx=ctx, plugin="yolo", task_type="detect", weights_path=weights, classes=[],
                               name="bench", params={"imgsz": args.imgsz})["model_id"]
    images = make_images(args.images, args.size)
    print(f"{len(images)} images of {args.size}px, imgsz {args.imgsz}, torch threads {args.threads}, "
          f"batch {args.batch} / wait {args.wait}s, {os.cpu_count()} CPUs")
    figures: dict = {"config": vars(args)}
    import torch

    torch.set_num_threads(args.threads)
    model = YOLO(weights)
    model.predict([decode(b) for b in images[:2]], imgsz=args.imgsz, verbose=False, device="cpu")  # warm-up
    torch.set_num_threads(args.threads)  # ultralytics' predictor set-up resets it to cpu_count - 1

    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": ray_env()}, log_to_driver=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config={"log_level": "WARNING"})
    serve.run(build_app({
        "settings": settings,
        "ingress": {"num_cpus": 0.25},
        "models": {"yolo": {"num_cpus": 1, "num_replicas": 1, "cpu_threads": args.threads,
                            "max_batch_size": args.batch, "batch_wait_timeout_s": args.wait,
                            "max_ongoing_requests": max(32, 2 * args.concurrency)}},
    }), name="raysight", route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    meters = {"a": Meter("(a) ultralytics in-process, 1 by 1"), "b": Meter("(b) platform over HTTP, concurrency 1"),
              "d": Meter(f"(d) ultralytics in-process, batch {args.batch}"),
              "c": Meter(f"(c) platform over HTTP, concurrency {args.concurrency}")}
    try:
        asyncio.run(over_http(base, model_id, images[:args.concurrency], args.concurrency, None))  # warm-up
        # interleaved rounds: on a shared machine, load changes over time and would favour one side
        for _ in range(args.rounds):
            one_by_one(model, images, args.imgsz, meters["a"])
            asyncio.run(over_http(base, model_id, images, 1, meters["b"]))
            batched(model, images, args.imgsz, args.batch, meters["d"])
            asyncio.run(over_http(base, model_id, images, args.concurrency, meters["c"]))
        for key, meter in meters.items():
            figures[key] = meter.row()
        figures["video"] = video_bench(base, model_id, model, args.frames, args.size, args.batch, args.imgsz)
        info = serve.get_deployment_handle("yolo", app_name="raysight").info.remote().result()
        figures["replica"] = {k: info[k] for k in ("device", "torch_threads", "stats")}
    finally:
        serve.shutdown()
        ray.shutdown()
    b_a = figures["b"]["throughput"] / figures["a"]["throughput"]
    c_d = figures["c"]["throughput"] / figures["d"]["throughput"]
    figures["ratios"] = {"b/a": b_a, "c/d": c_d, "stream/raw": figures["video"]["ratio"]}
    print(f"ratios: b/a {b_a:.3f} (goal >= 0.9)   c/d {c_d:.3f} (goal >= 0.95)   "
          f"stream/raw {figures['video']['ratio']:.3f} (goal >= 0.9)")
    print(f"replica: {figures['replica']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
