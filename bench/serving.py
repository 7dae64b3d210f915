"""Serving benchmark: raysight's /infer against the 20-line FastAPI+ultralytics server and ultralytics
in-process, same weights, same image, same HTTP client, same concurrency, one run.

    python bench/serving.py [--sizes 128,640] [--requests 160] [--concurrency 16] [--frames 64]

Image: ultralytics' own bus.jpg (810x1080 JPEG, shipped inside the ultralytics package), every request.
Weights: an untrained YOLOv8n (yolov8n.yaml) unless --weights is given (throughput barely depends on
what the weights learned). Platform: Ray started with this machine's CPUs, the environment `raysight
serve` gives its Ray processes (the application's env_vars included; direct ingress unless
RAYSIGHT_DIRECT_INGRESS=false) and the SHIPPED serve_config.yaml values for the ingress and the yolo
deployment (only the port is changed).
Peer: bench/peer_server.py under uvicorn, one worker (ultralytics' own torch thread default).
In-process: sequential and batched 16, each with ultralytics' thread default and with every core, before
and after the servers (a shared VM's speed drifts over minutes; the best of their means is the reference).
Printed per imgsz: in-process sequential and batched 16; c1 req/s + p50 and c16 req/s for platform and
peer, each with the CPU ms per request of every process (Serve's proxy, the ingress, the model replicas;
unlike req/s on a shared machine, it hardly depends on what else runs) and of the client (this process,
on the same cores); the ratios (goals: platform c16 / peer c16 >= 1.2, c1 / peer c1 >= 0.8, platform
c16 / best in-process >= 0.8), the c16 ratio the CPU per request allows on idle cores, and the most the
platform's and the client's CPU per request allow against the best in-process. Then video
(/infer/video/{id}/stream frames/s / in-process predict >= 0.9, with the CPU ms per frame).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
# torch threads ultralytics sets for CPU predict (its NUM_THREADS): what the peer runs with
ULTRALYTICS_THREADS = min(8, max(1, (os.cpu_count() or 1) - 1))
sys.path.insert(0, str(ROOT))
CLIENT = "client (this bench)"

from bench.procstat import cpu_s  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bus_jpg() -> bytes:
    import ultralytics

    return (Path(ultralytics.__file__).parent / "assets" / "bus.jpg").read_bytes()


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def row(label: str, n: int, elapsed: float, lat: list[float]) -> dict[str, float]:
    r = {"rps": n / elapsed, "p50_ms": float(np.percentile(lat, 50)) * 1000 if lat else float("nan")}
    print(f"  {label:<34} {r['rps']:7.2f} req/s   p50 {r['p50_ms']:7.1f} ms", flush=True)
    return r


def in_process(model: object, data: bytes, n: int, imgsz: int, batch: int,
               max_s: float = 10.0) -> tuple[int, float, list[float]]:
    """Decoding included (both servers decode too). Stops after `max_s` (a thread count that fights the
    other processes for the cores can run 10-100x slower; its figure is what it did until then)."""
    lat: list[float] = []
    start, done = time.perf_counter(), 0
    while done < n and time.perf_counter() - start < max_s:
        t = time.perf_counter()
        model.predict([decode(data) for _ in range(batch)], imgsz=imgsz, conf=0.25, verbose=False, device="cpu")
        lat.append(time.perf_counter() - t)
        done += batch
    return done, time.perf_counter() - start, lat


def in_process_rows(model: object, data: bytes, n: int, imgsz: int, label: str) -> dict[str, dict[str, float]]:
    """In-process sequential and batched 16, with ultralytics' thread default and with every core."""
    import torch

    rows = {}
    for threads in sorted({ULTRALYTICS_THREADS, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for batch in (1, 16):
            rows[f"inproc_{batch}_t{threads}"] = row(
                f"in-process {'sequential' if batch == 1 else 'batched 16'}, {threads} thr{label}",
                *in_process(model, data, n, imgsz, batch))
    return rows


def ray_processes(session_dir: str) -> dict[str, int]:
    """name -> pid of the Ray worker processes of this session (proxy, controller, replicas ...)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if not cmd.startswith("ray::") or not any(
                    session_dir in os.readlink(fd) for fd in (entry / "fd").iterdir()):
                continue
        except OSError:
            continue
        name = cmd[5:].replace("ServeReplica:raysight:", "")
        if name != "IDLE":
            found[f"{name}#{entry.name}"] = int(entry.name)
    return found


def cpu_per_request(pids: dict[str, int], run: Any, n: int) -> tuple[Any, dict[str, float]]:
    """run(), and the CPU ms each process spent per request meanwhile (load-independent, unlike req/s).
    CLIENT: this process, the HTTP client (it shares the cores with the servers)."""
    before = {k: cpu_s(p) for k, p in pids.items()}
    client = time.process_time()
    out = run()
    spent = {k: (cpu_s(p) - before[k]) * 1000 / n for k, p in pids.items()}
    spent[CLIENT] = (time.process_time() - client) * 1000 / n
    return out, {k: round(v, 2) for k, v in spent.items() if v >= 0.05}


def servers(cpu: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in cpu.items() if k != CLIENT}


def cpu_line(cpu: dict[str, float], per: str = "request") -> str:
    """'CPU ms per <per>: <servers' sum> = <each, most first>; client <ms>'."""
    top = sorted(servers(cpu).items(), key=lambda kv: -kv[1])
    each = ", ".join(f"{k.split('#')[0]} {v:.1f}" for k, v in top)
    return f"    CPU ms per {per}: {sum(v for _, v in top):.1f} = {each}; {CLIENT} {cpu.get(CLIENT, 0.0):.1f}"


async def over_http(url: str, data: bytes, n: int, concurrency: int) -> tuple[float, list[float]]:
    """The one client both servers get: httpx, multipart upload, `concurrency` requests in flight."""
    sem, lat = asyncio.Semaphore(concurrency), []
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=concurrency)) as c:

        async def one() -> None:
            async with sem:
                t = time.perf_counter()
                r = await c.post(url, files={"file": ("bus.jpg", data, "image/jpeg")})
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
                lat.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - start, lat


def video_bench(base: str, model_id: str, model: object, frames: int, imgsz: int,
                pids: dict[str, int]) -> dict[str, Any]:
    src = decode(bus_jpg())
    path = Path(tempfile.mkdtemp(prefix="raysight_bench_video_")) / "v.mp4"
    h, w = src.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    for i in range(frames):
        writer.write(np.roll(src, 4 * i, axis=1))
    writer.release()
    cap, decoded = cv2.VideoCapture(str(path)), []
    while (got := cap.read())[0]:
        decoded.append(got[1])
    import torch

    raw: dict[int, float] = {}
    for threads in sorted({ULTRALYTICS_THREADS, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for batch in (1, 16):
            start, done = time.perf_counter(), 0
            while done < len(decoded) and time.perf_counter() - start < 15:  # see in_process
                model.predict(decoded[done:done + batch], imgsz=imgsz, conf=0.25, verbose=False, device="cpu")
                done += batch
            raw[batch] = max(raw.get(batch, 0.0), done / (time.perf_counter() - start))

    def stream() -> tuple[int, float]:
        start, seen = time.perf_counter(), 0
        upload = {"file": ("v.mp4", path.read_bytes(), "video/mp4")}
        with httpx.Client(base_url=base, timeout=600) as c, c.stream(
                "POST", f"/infer/video/{model_id}/stream", files=upload) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                seen += line.startswith("data:") and '"frame"' in line[:20]
        return seen, seen / (time.perf_counter() - start)

    (seen, fps), cpu = cpu_per_request(pids, stream, len(decoded))
    best = max(raw.values())
    print(f"video {w}x{h}, {seen} frames, imgsz {imgsz}: in-process (best of threads) 1-by-1 {raw[1]:.2f} "
          f"/ batch 16 {raw[16]:.2f} frames/s, /infer/video stream {fps:.2f} frames/s -> ratio {fps / best:.3f} "
          "(goal >= 0.9)", flush=True)
    print(cpu_line(cpu, per="frame"), flush=True)
    shutil.rmtree(path.parent, ignore_errors=True)
    return {"raw_1": raw[1], "raw_16": raw[16], "stream": fps, "ratio": fps / best, "cpu_ms_per_frame": cpu}


def hops(base: str, model_key: str, data: bytes, imgsz: int, n: int) -> dict[str, float]:
    """Where a lone request's time goes: p50 of a cheap GET through proxy + ingress (no model), and of
    a predict sent straight to the yolo replica through a DeploymentHandle (decode + batch + model)."""
    from ray import serve

    lat: dict[str, list[float]] = {"proxy+ingress (GET /plugins)": [], "yolo replica via handle": []}
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(n):
            t = time.perf_counter()
            c.get("/plugins").raise_for_status()
            lat["proxy+ingress (GET /plugins)"].append(time.perf_counter() - t)
    handle = serve.get_deployment_handle("yolo", app_name="raysight").options(multiplexed_model_id=model_key)
    for _ in range(n):
        t = time.perf_counter()
        handle.predict.remote(data, {"imgsz": imgsz}).result()
        lat["yolo replica via handle"].append(time.perf_counter() - t)
    out = {k: float(np.percentile(v, 50)) * 1000 for k, v in lat.items()}
    print("  hops, p50: " + "   ".join(f"{k} {v:.1f} ms" for k, v in out.items()), flush=True)
    return out


def start_peer(weights: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PEER_WEIGHTS": weights, "YOLO_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.peer_server:app", "--port", str(port),
                             "--workers", "1", "--log-level", "warning"], cwd=ROOT, env=env)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the peer server did not start")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="128,640")
    p.add_argument("--requests", type=int, default=160,
                   help="requests per measurement (at 128 px c16 48 requests last half a second: too noisy)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--weights", default=None)
    p.add_argument("--config", default=str(ROOT / "serve_config.yaml"))
    p.add_argument("--json", default=None)
    p.add_argument("--no-bracket", dest="bracket", action="store_false",
                   help="in-process only before the servers (default: before and after, their mean)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="experiments only: override a yolo deployment option of the shipped config (YAML value)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="experiments only: an environment variable for the Ray processes (not this one)")
    ns = p.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # `timeout` or kill: shut Ray down (the finally below)

    from raysight.cli import app_env, direct_ingress
    from raysight.settings import apply_process_env, direct_ingress_env, ray_env, serve_env

    apply_process_env()
    import ray
    from ray import serve
    from ultralytics import YOLO

    from raysight.context import Platform
    from raysight.services import models
    from raysight.serving.app import build_app
    from raysight.settings import Settings

    workspace = Path(tempfile.mkdtemp(prefix="raysight_bench_"))
    weights = ns.weights or str(workspace / "fresh.pt")
    if not ns.weights:
        YOLO("yolov8n.yaml").save(weights)
    data = bus_jpg()
    shipped = yaml.safe_load(Path(ns.config).read_text())
    app_args = shipped["applications"][0]["args"]
    settings = {**(app_args.get("settings") or {}), "workspace": str(workspace), "plugins": "yolo",
                "max_upload_mb": 200}
    for item in ns.set:
        key, _, value = item.partition("=")
        app_args["models"]["yolo"][key] = yaml.safe_load(value)
    serve_args = {"settings": settings, "ingress": app_args.get("ingress") or {},
                  "models": {"yolo": app_args["models"]["yolo"]}}
    ctx = Platform.create(Settings(**settings))
    model_id = models.register(ctx=ctx, plugin="yolo", task_type="detect", weights_path=weights, classes=[],
                               name="bench", params={"imgsz": 640})["model_id"]
    model_key = models.serving_key(ctx=ctx, model_id=model_id)[1]
    sizes = [int(s) for s in ns.sizes.split(",") if s]  # "" : the video figures only
    figures: dict = {"config": vars(ns), "serve_args": serve_args["models"], "load_start": os.getloadavg()}
    print(f"bus.jpg 810x1080, {'untrained YOLOv8n' if not ns.weights else ns.weights}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; yolo deployment as shipped: {serve_args['models']['yolo']}", flush=True)

    model = YOLO(weights)
    model.predict(decode(data), imgsz=640, verbose=False, device="cpu")
    peer_port, port = free_port(), free_port()
    peer = start_peer(weights, peer_port)
    app_cfg = shipped["applications"][0]
    direct = direct_ingress(Settings(**settings), app_cfg, local=True)  # as `raysight serve` decides
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {**ray_env(), **serve_env(app_env(app_cfg)),
                                       **(direct_ingress_env(port) if direct else {}),
                                       **dict(e.split("=", 1) for e in ns.env)}},
             log_to_driver=False)
    # as `raysight serve` starts it (Serve's default logging: access logs on), and the app's own
    # logging_config where serve_config.yaml gives one
    serve.start(proxy_location=shipped.get("proxy_location", "EveryNode"),
                http_options={**(shipped.get("http_options") or {}), "port": free_port() if direct else port})
    serve.run(build_app(serve_args), name="raysight", route_prefix="/",
              logging_config=shipped["applications"][0].get("logging_config"))
    session = Path(ray._private.worker._global_node.get_session_dir_path()).name
    pids = {"platform": ray_processes(session), "peer": {"peer": peer.pid}}
    urls = {"platform": f"http://127.0.0.1:{port}/infer/{model_id}",
            "peer": f"http://127.0.0.1:{peer_port}/infer/{model_id}"}
    try:
        for size in sizes:
            for url in urls.values():  # warm-up (model load, predictor set-up at this size)
                asyncio.run(over_http(f"{url}?imgsz={size}", data, 2 * ns.concurrency, ns.concurrency))
            print(f"imgsz {size} (load {os.getloadavg()[0]:.2f}):", flush=True)
            fig = {"load": os.getloadavg()[0]}
            n = ns.requests
            before = in_process_rows(model, data, n, size, "")
            for name, url in urls.items():
                for conc in (1, ns.concurrency):
                    target = f"{url}?imgsz={size}"
                    (elapsed, lat), cpu = cpu_per_request(
                        pids[name], partial(asyncio.run, over_http(target, data, n, conc)), n)
                    fig[f"{name}_c{conc}"] = {**row(f"{name} c{conc}", n, elapsed, lat), "cpu_ms_per_request": cpu}
                    print(cpu_line(cpu), flush=True)
            fig["hops_ms"] = hops(f"http://127.0.0.1:{port}", model_key, data, size, n)
            # the VM's speed drifts over minutes: in-process again after the servers, and their mean
            after = in_process_rows(model, data, n, size, ", again") if ns.bracket else before
            for key, first in before.items():
                fig[key] = {"rps": (first["rps"] + after[key]["rps"]) / 2, "before": first, "after": after[key]}
            best_key = max(before, key=lambda k: fig[k]["rps"])
            best = fig[best_key]["rps"]
            print(f"  best in-process: {best:.2f} req/s ({best_key}"
                  + (", mean of before and after the servers)" if ns.bracket else ")"), flush=True)
            c = f"c{ns.concurrency}"
            fig["ratios"] = {
                "platform_c16/peer_c16": fig[f"platform_{c}"]["rps"] / fig[f"peer_{c}"]["rps"],
                "platform_c1/peer_c1": fig["platform_c1"]["rps"] / fig["peer_c1"]["rps"],
                "platform_c16/best_inprocess": fig[f"platform_{c}"]["rps"] / best,
            }
            print("  ratios: " + "   ".join(f"{k} {v:.3f}" for k, v in fig["ratios"].items())
                  + "   (goals >= 1.2, >= 0.8, >= 0.8)", flush=True)
            # what the CPU each request costs allows on idle cores where the peer computes on one (one process
            # with ultralytics' torch threads = cores less one = 1) and the platform's processes on all of them
            spent = {k: fig[f"{k}_{c}"]["cpu_ms_per_request"] for k in ("platform", "peer")}
            cpu = {k: sum(servers(v).values()) for k, v in spent.items()}
            cores = os.cpu_count() or 1
            if ULTRALYTICS_THREADS == 1:
                fig["cpu_bound_c16/peer"] = cores * cpu["peer"] / cpu["platform"]
                print(f"  CPU per request at c{ns.concurrency}: platform {cpu['platform']:.1f} ms, peer "
                      f"{cpu['peer']:.1f} ms -> the c16 ratio this allows on {cores} idle cores: "
                      f"{fig['cpu_bound_c16/peer']:.2f}", flush=True)
            # the client runs on the same cores: the most req/s the platform's and its CPU allow, against
            # ultralytics in-process (which pays for neither HTTP nor a client)
            client = spent["platform"].get(CLIENT, 0.0)
            fig["cpu_bound_c16/best_inprocess"] = cores * 1000 / (cpu["platform"] + client) / best
            print(f"  with the client's {client:.1f} ms: at most {cores * 1000 / (cpu['platform'] + client):.0f} req/s "
                  f"on {cores} cores, {fig['cpu_bound_c16/best_inprocess']:.2f}x the best in-process", flush=True)
            figures[f"imgsz_{size}"] = fig
        if ns.frames:
            if not sizes:  # warm-up as above (model load, ONNX export, predictor set-up at 640)
                asyncio.run(over_http(f"{urls['platform']}?imgsz=640", data, 2 * ns.concurrency, ns.concurrency))
            figures["video"] = video_bench(f"http://127.0.0.1:{port}", model_id, model, ns.frames, 640,
                                           pids["platform"])
        info = serve.get_deployment_handle("yolo", app_name="raysight").info.remote().result()
        figures["replica"] = {k: info[k] for k in ("device", "torch_threads", "stats")}
        print(f"replica: {figures['replica']}   load at end {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        peer.terminate()
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(workspace, ignore_errors=True)  # weights, database, every request's stored upload
    figures["load_end"] = os.getloadavg()
    if ns.json:
        Path(ns.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
