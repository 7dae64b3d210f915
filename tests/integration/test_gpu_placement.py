"""Fractional GPUs: on a cluster that declares a GPU, each model deployment's replica is placed with
the GPU share serve_config.yaml gives it, and still infers (on CPU where torch sees no CUDA).

The session Ray cluster has no GPU and one process can hold only one Ray cluster, so this runs its own
cluster (`ray.init(address="local", num_gpus=1)`) in a subprocess. serve_config.yaml's shares for
the built-in families add up to 0.875 GPU (yolo 0.25, sam 0.5, resnet 0.125); ocr takes none (its
engine runs on the CPU) and is placed without a GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, socket, sys, time, uuid
from pathlib import Path

import httpx, numpy as np, ray, yaml
from PIL import Image
from ray import serve

from raysight.context import Platform
from raysight.services import models
from raysight.serving.app import build_app
from raysight.settings import Settings, apply_process_env, ray_env

apply_process_env()
workspace, config_path = Path(sys.argv[1]), Path(sys.argv[2])
families = ("yolo", "sam", "resnet", "ocr")
config = yaml.safe_load(config_path.read_text())["applications"][0]["args"]["models"]
model_args = {}
for name in families:
    opts = dict(config[name], num_cpus=0.1, num_replicas=1)
    opts.pop("autoscaling_config", None)
    model_args[name] = opts

ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, logging_level="ERROR",
         runtime_env={"env_vars": ray_env()})
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
serve.start(http_options={"host": "127.0.0.1", "port": port})
settings = {"workspace": str(workspace), "plugins": ",".join(families)}
serve.run(build_app({"settings": settings, "ingress": {"num_cpus": 0.1}, "models": model_args}),
          name="raysight", route_prefix="/")

from ultralytics import YOLO
ctx = Platform.create(Settings(**settings))
weights = ctx.workspace.models / "fresh.pt"
YOLO("yolov8n.yaml").save(str(weights))
model_id = models.register(ctx=ctx, plugin="yolo", task_type="detect", weights_path=weights, classes=[],
                           name="fresh")["model_id"]
image = ctx.workspace.tmp / "p.png"
Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
base = f"http://127.0.0.1:{port}"
infer = httpx.post(f"{base}/infer/{model_id}", files={"file": ("p.png", image.read_bytes(), "image/png")},
                   timeout=120)
health = httpx.get(f"{base}/health", timeout=30).json()

# what each replica's worker was given (ray.get_runtime_context().get_assigned_resources() in
# the replica; the state API would need the dashboard, which this cluster runs without)
infos = {name: serve.get_deployment_handle(name, app_name="raysight").info.remote().result()
         for name in families}
placed = {name: info["assigned_resources"] for name, info in infos.items()}
print("RESULT " + json.dumps({
    "requested": {n: model_args[n]["num_gpus"] for n in families},
    "placed": placed,
    "infos": infos,
    "infer_status": infer.status_code,
    "infer_body": infer.json(),
    "health": health["serve"]["deployments"],
    "cluster": ray.cluster_resources(),
    "available": ray.available_resources(),
}))
serve.shutdown()
ray.shutdown()
'''


@pytest.mark.slow
def test_replicas_get_their_gpu_share_and_infer_on_cpu(tmp_path: Path) -> None:
    import torch

    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "ws"), str(ROOT / "serve_config.yaml")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT "):])

    assert result["cluster"]["GPU"] == 1.0
    assert result["requested"] == {"yolo": 0.25, "sam": 0.5, "resnet": 0.125, "ocr": 0}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for name, share in result["requested"].items():
        assert result["placed"][name].get("GPU", 0) == share, result["placed"]
        info = result["infos"][name]
        assert info["num_gpus"] == share and info["gpu_ids"] == (["0"] if share else [])
        # a declared GPU that torch cannot see: CPU inference; no share: CPU
        assert info["device"] == (device if share else "cpu")
        assert result["health"][name]["num_gpus"] == share
    assert result["available"].get("GPU", 0.0) == 0.125  # what the shares leave of the one GPU
    assert result["infer_status"] == 200, result["infer_body"]
    assert set(result["infer_body"]) == {"model_id", "image_path", "detections"}
    assert result["health"]["yolo"]["device"] == device
