"""The README's walk-through on the real thing: `raysight serve` as a user starts it (a subprocess, the repo's
serve_config.yaml unchanged, Ray's own CPU accounting of this machine), then `raysight demo-data` and the
curl steps over HTTP: upload -> prepare -> train -> follow the log -> infer with the trained model.

On a 2-core machine this is the check that a training job starts beside the Serve replicas at all."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import _free_port

ROOT = Path(__file__).parents[2]
# the README's training request (walk-through "Dataset to trained model")
TRAIN = {"epochs": 15, "imgsz": 128, "batch": 8, "params": {"mosaic": 0, "nbs": 8, "warmup_epochs": 1}}


def _user_env() -> dict[str, str]:
    """This process's environment without test-only knobs: no RAYSIGHT_* (defaults and the file apply),
    no RAY_ADDRESS (a local cluster of this machine's CPUs)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RAYSIGHT_") and k != "RAY_ADDRESS"}


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def _listener(port: int) -> str:
    """The command line of the process listening on `port` (Ray names its workers `ray::<actor>`)."""
    import psutil
    import ray  # noqa: F401  (puts Ray's bundled psutil on the path)

    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return " ".join(psutil.Process(conn.pid).cmdline())
    return ""


def _video(path: Path, archive: Path, frames: int) -> Path:
    """An mp4 of the archive's first images, one per frame."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (128, 128))
    with zipfile.ZipFile(archive) as zf:
        for i in range(frames):
            jpeg = np.frombuffer(zf.read(f"images/img{i:04d}.jpg"), np.uint8)
            writer.write(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    writer.release()
    return path


def _truth(archive: Path, stem: str, size: int = 128) -> list[tuple[int, tuple[float, ...]]]:
    with zipfile.ZipFile(archive) as zf:
        lines = zf.read(f"labels/{stem}.txt").decode().split()
    out = []
    for i in range(0, len(lines), 5):
        cls, cx, cy, w, h = int(lines[i]), *(float(v) * size for v in lines[i + 1:i + 5])
        out.append((cls, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    return out


def _wait_up(port: int, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            if r.status_code == 200:  # the Serve proxy answers 404 until the app is deployed
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("raysight serve did not come up")


async def _burst(base: str, path: str, image: bytes, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        return list(await asyncio.gather(*(client.post(path, files={"file": ("i.jpg", image)}) for _ in range(n))))


@pytest.mark.slow
def test_readme_walkthrough_trains_and_serves_a_model_on_this_machine(tmp_path: Path) -> None:
    shutil.copy(ROOT / "serve_config.yaml", tmp_path / "serve_config.yaml")
    demo = tmp_path / "demo"
    subprocess.run([sys.executable, "-m", "raysight.cli", "demo-data", str(demo)], check=True, env=_user_env(),
                   capture_output=True, timeout=120)
    port = _free_port()
    output = tmp_path / "serve.log"  # a file, not a pipe: nobody reads a pipe while the job trains
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raysight.cli", "serve", "--port", str(port), "--workspace", str(tmp_path / "ws")],
        cwd=tmp_path, env=_user_env(), stdout=output.open("w"), stderr=subprocess.STDOUT, text=True,
    )
    try:
        health = _wait_up(port, proc)
        up_s = time.monotonic() - started
        assert health["dashboard_url"], health  # on by default, printed at start-up
        # direct ingress: the FastAPI ingress replica itself listens on the port, no Serve proxy in between
        assert _listener(port).startswith("ray::ServeReplica:raysight:Ingress"), _listener(port)
        assert f"Ray dashboard: {health['dashboard_url']}" in output.read_text()
        config = yaml.safe_load((tmp_path / "serve_config.yaml").read_text())["applications"][0]["args"]
        for name, placed in health["serve"]["deployments"].items():  # what the copied file asks for
            assert placed.get("num_cpus", config["ingress"]["num_cpus"]) == \
                config["models"].get(name, config["ingress"])["num_cpus"], (name, placed)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            ds = http.post("/datasets/upload", files={"file": ("shapes_yolo.zip",
                                                               (demo / "shapes_yolo.zip").read_bytes())})
            assert ds.status_code == 200, ds.text
            ds_id = ds.json()["dataset_id"]
            r = http.post(f"/datasets/{ds_id}/prepare", json={"split_ratio": {"train": 0.8, "val": 0.2}})
            assert r.status_code == 200, r.text
            created = time.monotonic()
            r = http.post("/train/jobs", json={"dataset_id": ds_id, **TRAIN})
            assert r.status_code == 200, r.text
            job_id = r.json()["job_id"]
            job = http.get(f"/train/jobs/{job_id}").json()
            while job["status"] == "queued" and time.monotonic() - created < 20:
                time.sleep(0.5)
                job = http.get(f"/train/jobs/{job_id}").json()
            assert job["status"] in ("running", "completed"), f"job did not start within 20 s: {job}"
            start_s = time.monotonic() - created
            with http.stream("GET", "/logs/stream", params={"job_id": job_id}, timeout=600) as s:  # ends with the job
                log = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
            job = http.get(f"/train/jobs/{job_id}").json()
            assert job["status"] == "completed", (job, log[-20:])
            assert any("Training completed" in line for line in log), log[-20:]
            model = http.get(f"/models/{job['model_id']}").json()
            assert model["model_id"] == job["model_id"] and model["plugin"] == "yolo"
            with zipfile.ZipFile(demo / "shapes_yolo.zip") as zf:
                image = zf.read("images/img0000.jpg")
            r = http.post(f"/infer/{job['model_id']}", files={"file": ("img0000.jpg", image)})
            served_s = time.monotonic() - started
            assert r.status_code == 200, r.text
            dets = r.json()["detections"]
            for cls, box in _truth(demo / "shapes_yolo.zip", "img0000"):
                assert any(d["class_id"] == cls and _iou(box, tuple(d["bbox"].values())) > 0.5 for d in dets), dets
            # concurrent requests: the ingress groups them into calls (serve_config.yaml's call_batch_size);
            # each answer is the lone request's
            for answer in asyncio.run(_burst(f"http://127.0.0.1:{port}", f"/infer/{job['model_id']}", image, 8)):
                assert answer.status_code == 200, answer.text
                got = answer.json()["detections"]
                assert len(got) == len(dets), (got, dets)
                for lone in dets:
                    box = tuple(lone["bbox"].values())
                    assert any(d["class_id"] == lone["class_id"] and _iou(box, tuple(d["bbox"].values())) > 0.99
                               for d in got), (got, dets)
            # through the direct ingress too: bad input answers in the API's envelope, a video streams
            r = http.post(f"/infer/{job['model_id']}", files={"file": ("x.jpg", b"not an image")})
            assert r.status_code in (400, 415, 422) and "detail" in r.json(), r.text
            video = _video(tmp_path / "v.mp4", demo / "shapes_yolo.zip", frames=6)
            with http.stream("POST", f"/infer/video/{job['model_id']}/stream",
                             files={"file": ("v.mp4", video.read_bytes(), "video/mp4")}) as s:
                events = [line for line in s.iter_lines() if line.startswith(("event:", "data:"))]
            frames = [json.loads(line[5:]) for line in events if line.startswith('data: {"frame"')]
            assert [f["frame"] for f in frames] == list(range(6)) and events[-2] == "event: end", events[-2:]
            assert all(f["detections"] for f in frames), frames
        print(f"\nraysight serve -> ready {up_s:.1f}s; job started {start_s:.1f}s after creation; "
              f"raysight serve -> first served prediction of the trained model {served_s:.1f}s "
              f"(mAP50 {json.dumps(model['metrics'].get('mAP50'))})")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(output.read_text()[-3000:])
