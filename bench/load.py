"""Load test: N concurrent inference requests; reports p50 / p99 latency and the status mix.

    python bench/load.py [--requests 100] [--max-ongoing 2] [--max-queued 4] [--family resnet]
    python bench/load.py --url http://head:8000 --model <model_id> [--requests 100]

Without --url it starts its own Ray + Serve app on a temporary workspace (one family, one replica,
the given queue limits) with a model of fresh weights (latency does not depend on what weights learned).
Past the queue limits the platform answers 503 with Retry-After; anything else but 200 is a fault.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class LoadReport:
    requests: int
    concurrency: int
    wall_s: float
    statuses: dict[int, int]
    p50_ms: float
    p99_ms: float
    p50_ok_ms: float
    p99_ok_ms: float
    retry_after: list[str] = field(default_factory=list)  # distinct Retry-After values of the 503s
    faults: list[str] = field(default_factory=list)  # answers that are neither 200 nor 503 + Retry-After
    busy_body: str = ""  # the body of one 503

    def line(self) -> str:
        mix = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (f"{self.requests} requests at concurrency {self.concurrency} in {self.wall_s:.2f} s: {mix}; "
                f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms (200s only: p50 {self.p50_ok_ms:.0f} ms, "
                f"p99 {self.p99_ok_ms:.0f} ms); Retry-After {self.retry_after or '-'}; faults {len(self.faults)}")


def png(size: int = 96, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1000) if values else float("nan")


async def fire(base: str, model_id: str, *, requests: int = 100, concurrency: int | None = None,
               image: bytes | None = None, timeout_s: float = 300.0) -> LoadReport:
    """POST /infer/{model_id} `requests` times, `concurrency` at once (default: all at once)."""
    concurrency = concurrency or requests
    data = image or png()
    latencies: list[tuple[int, float]] = []
    faults: list[str] = []
    retry_after: set[str] = set()
    busy_body: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:

        async def one(i: int) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    r = await client.post(f"/infer/{model_id}", files={"file": (f"{i}.png", data, "image/png")})
                except httpx.HTTPError as exc:
                    faults.append(f"#{i}: {type(exc).__name__}: {exc}")
                    return
                latencies.append((r.status_code, time.perf_counter() - start))
                if r.status_code == 503 and r.headers.get("retry-after"):
                    retry_after.add(r.headers["retry-after"])
                    busy_body.append(r.text)
                elif r.status_code != 200:
                    faults.append(f"#{i}: {r.status_code} {r.headers.get('retry-after')!r} {r.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        wall = time.perf_counter() - started
    every = [t for _, t in latencies]
    ok = [t for code, t in latencies if code == 200]
    return LoadReport(
        requests=requests, concurrency=concurrency, wall_s=round(wall, 3),
        statuses=dict(Counter(code for code, _ in latencies)),
        p50_ms=round(_ms(every, 50), 1), p99_ms=round(_ms(every, 99), 1),
        p50_ok_ms=round(_ms(ok, 50), 1), p99_ok_ms=round(_ms(ok, 99), 1),
        retry_after=sorted(retry_after), faults=faults, busy_body=busy_body[0] if busy_body else "",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_app(args: argparse.Namespace) -> tuple[str, str]:
    """A Ray + Serve app of one family on a temporary workspace; returns (base URL, model id)."""
    from raysight.settings import apply_process_env, ray_env

    apply_process_env()
    import ray
    from ray import serve

    from raysight.context import Platform
    from raysight.services import models
    from raysight.serving.app import build_app
    from raysight.settings import Settings

    workspace = Path(tempfile.mkdtemp(prefix="raysight_load_"))
    settings = {"workspace": str(workspace), "plugins": args.family}
    ctx = Platform.create(Settings(**settings))
    weights = workspace / "fresh.pt"
    if args.family == "yolo":
        from ultralytics import YOLO

        YOLO("yolov8n.yaml").save(str(weights))
        classes: list[str] = []
        task_type = "detect"
    else:
        from raysight_resnet.model import build_resnet, save_weights

        classes, task_type = ["a", "b", "c"], "classify"
        save_weights(weights, arch="resnet18", classes=classes, state_dict=build_resnet("resnet18", 3).state_dict(),
                     imgsz=64)
    model_id = models.register(ctx=ctx, plugin=args.family, task_type=task_type, weights_path=weights,
                               classes=classes, name="load")["model_id"]
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": ray_env()})
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({
        "settings": settings,
        "ingress": {"num_cpus": 0.1},
        "models": {args.family: {"num_cpus": 1, "num_replicas": 1, "max_ongoing_requests": args.max_ongoing,
                                 "max_queued_requests": args.max_queued, "max_batch_size": args.batch,
                                 "retry_after_s": 1}},
    }), name="raysight", route_prefix="/")
    return f"http://127.0.0.1:{port}", model_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running platform (else one is started here)")
    parser.add_argument("--model", default=None, help="model id to call (with --url)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=None, help="default: all requests at once")
    parser.add_argument("--rounds", type=int, default=2, help="the first round also loads the model")
    parser.add_argument("--family", default="resnet", choices=["resnet", "yolo"])
    parser.add_argument("--max-ongoing", type=int, default=2)
    parser.add_argument("--max-queued", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the reports here")
    args = parser.parse_args()
    if args.url:
        if not args.model:
            parser.error("--url needs --model")
        base, model_id = args.url.rstrip("/"), args.model
    else:
        base, model_id = _own_app(args)
    reports = []
    for i in range(args.rounds):
        report = asyncio.run(fire(base, model_id, requests=args.requests, concurrency=args.concurrency))
        reports.append(report)
        print(f"round {i + 1}: {report.line()}")
        for fault in report.faults[:5]:
            print("  fault:", fault)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in reports], indent=2))
    sys.exit(1 if any(r.faults for r in reports) else 0)


if __name__ == "__main__":
    main()
