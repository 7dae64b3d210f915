"""A real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head without CPUs and two
worker nodes, each with its own custom resource), driven through raysight. Run in its own process by
tests/integration/test_multinode.py (a process holds one Ray cluster; the test session has its own):

    python -m tests.multinode_scenario <folder>      # prints one JSON line of observations, the last line

Each step records what it saw; the test asserts on it. All nodes share this machine's disk, so the
workspace is shared as the README's cluster set-up requires.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# Ray's temp folder of this cluster is private: cluster_utils writes the head's address to
# <temp>/ray/ray_current_cluster, where every plain ray.init() on the machine would find and join it.
# A short path: Ray's unix sockets live under it.
if not os.environ.get("RAY_TMPDIR"):
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rsmn", dir="/tmp")

from raysight.settings import apply_process_env, ray_env  # noqa: E402

apply_process_env()

import numpy as np  # noqa: E402
import ray  # noqa: E402
from PIL import Image  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from raysight.context import Platform  # noqa: E402
from raysight.services import datasets, models, training  # noqa: E402
from raysight.settings import Settings  # noqa: E402
from tests.datagen import reader_over, write_classify_zip  # noqa: E402
from tests.training_helpers import ended, wait_for  # noqa: E402

WORKER_NODE = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024}
# Train workers ask for "trainer", which only worker nodes have: training never lands on the head
TRAINER = {"trainer": 1, "serving": 1}  # and one model replica (asking "serving": 1) per worker node


def node_of_train_worker() -> str | None:
    """The node id of the (single) live Ray Train worker actor (from the GCS of this cluster: the state
    API would need the dashboard, and its address lookup may find another cluster on this machine)."""
    from ray._private.state import actors

    for info in actors(actor_state_name="ALIVE").values():
        if "TrainWorker" in (info.get("ActorClassName") or ""):
            return info["Address"]["NodeID"]
    return None


def wait_worker_node(timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = node_of_train_worker()
        if node:
            return node
        time.sleep(0.3)
    raise AssertionError("no Ray Train worker came up")


def prepared_dataset(ctx: Platform, folder: Path) -> str:
    archive = write_classify_zip(folder / "cls.zip", 16, size=48)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    return ds["dataset_id"]


def platform(folder: Path, **settings: Any) -> Platform:
    from raysight.runtime import attach_trainer

    ctx = Platform.create(Settings(workspace=folder, plugins="resnet", train_cpus_per_worker=1,
                                   train_worker_resources={"trainer": 1}, **settings))
    attach_trainer(ctx)
    return ctx


def new_job(ctx: Platform, ds: str, epochs: int) -> str:
    return training.create_job(ctx=ctx, dataset_id=ds, model_name="resnet18", epochs=epochs, imgsz=48,
                               batch=8)["job_id"]


def step_serve(folder: Path, nodes: dict[str, str], out: dict[str, Any]) -> None:
    """Two replicas of the resnet family, one per worker node (each asks for the nodes' "serving": 1); both answer."""
    import httpx
    from ray import serve

    from raysight.serving.app import build_app
    from raysight_resnet.model import build_resnet, save_weights

    ws = folder / "serve_ws"
    ctx = Platform.create(Settings(workspace=ws, plugins="resnet"))
    weights = ws / "w.pth"
    save_weights(weights, arch="resnet18", classes=["a", "b"], state_dict=build_resnet("resnet18", 2).state_dict(),
                 imgsz=48)
    model_id = models.register(ctx=ctx, plugin="resnet", task_type="classify", weights_path=weights,
                               classes=["a", "b"], name="mn")["model_id"]
    ctx.close()
    from tests.conftest import _free_port

    port = _free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({
        "settings": {"workspace": str(ws), "plugins": "resnet"},
        "ingress": {"num_cpus": 0},
        "models": {"resnet": {"num_cpus": 0.5, "resources": {"serving": 1}, "num_replicas": 2,
                              "max_ongoing_requests": 1, "max_batch_size": 1}},
    }), name="multinode", route_prefix="/")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((48, 48, 3), dtype=np.uint8)).save(buf, format="PNG")
    image = buf.getvalue()
    handle = serve.get_deployment_handle("resnet", app_name="multinode")
    replicas: dict[int, dict[str, Any]] = {}
    statuses: list[int] = []
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
        while time.monotonic() < deadline:
            # concurrent requests: one replica takes one at a time, so the other is used too
            async def burst() -> list[int]:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
                    rs = await asyncio.gather(*(c.post(f"/infer/{model_id}", files={"file": ("i.png", image)})
                                                for _ in range(6)))
                return [r.status_code for r in rs]

            statuses += asyncio.run(burst())
            for _ in range(8):
                info = handle.info.remote().result(timeout_s=60)
                replicas[info["pid"]] = info
            if len(replicas) == 2 and all(r["stats"]["batches"] for r in replicas.values()):
                break
        out["serve_health_nodes"] = http.get("/health").json()["ray"]["nodes"]
    names = {v: k for k, v in nodes.items()}
    out["serve_statuses"] = sorted(set(statuses))
    out["serve_replicas"] = sorted(
        (names.get(r["node_id"], r["node_id"]), r["stats"]["batches"]) for r in replicas.values())
    serve.shutdown()


def step_stop_resume(folder: Path, nodes: dict[str, str], out: dict[str, Any]) -> None:
    """A job whose worker runs on a worker node: log streams, stop, resume from the checkpoint, model registered."""
    ctx = platform(folder / "ws_a")
    ds = prepared_dataset(ctx, folder)
    job_id = new_job(ctx, ds, epochs=6)
    worker_node = wait_worker_node()
    wait_for(ctx, job_id, lambda j: (j["checkpoint_epoch"] or 0) >= 2 or ended(j), timeout=240)
    names = {v: k for k, v in nodes.items()}
    out["train_worker_node"] = names.get(worker_node, worker_node)
    log_so_far = Path(training.get_job(ctx=ctx, job_id=job_id)["log_file"]).read_text()
    out["log_lines_while_running"] = [ln for ln in log_so_far.splitlines() if "poch" in ln][:3]
    training.stop_job(ctx=ctx, job_id=job_id)
    stopped = training.get_job(ctx=ctx, job_id=job_id)
    out["stopped"] = {"status": stopped["status"], "checkpoint_epoch": stopped["checkpoint_epoch"]}
    training.resume_job(ctx=ctx, job_id=job_id)
    resumed_node = wait_worker_node()
    done = wait_for(ctx, job_id, ended, timeout=300)
    out["resumed_on"] = names.get(resumed_node, resumed_node)
    out["completed"] = {"status": done["status"], "epochs": [h["epoch"] for h in done["history"]],
                        "model_id": done["model_id"], "error": done["error"]}
    out["resume_logged"] = f"Resuming from the checkpoint of epoch {stopped['checkpoint_epoch']}" in Path(
        done["log_file"]).read_text()
    ctx.close()


def step_node_dies(cluster: Cluster, folder: Path, nodes: dict[str, Any], node_ids: dict[str, str],
                   out: dict[str, Any], *, max_failures: int, key: str) -> None:
    """Remove the node the job's worker runs on mid-training."""
    ctx = platform(folder / f"ws_{key}", train_max_failures=max_failures)
    (folder / key).mkdir()
    ds = prepared_dataset(ctx, folder / key)
    job_id = new_job(ctx, ds, epochs=8)
    worker_node = wait_worker_node()
    wait_for(ctx, job_id, lambda j: (j["checkpoint_epoch"] or 0) >= 2 or ended(j), timeout=240)
    names = {v: k for k, v in node_ids.items()}
    victim = names[worker_node]
    cluster.remove_node(nodes.pop(victim), allow_graceful=False)
    result: dict[str, Any] = {"removed": victim}
    if max_failures:
        restarted = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and restarted is None:
            node = node_of_train_worker()
            restarted = node if node and node != worker_node else None
            time.sleep(0.3)
        result["restarted_on"] = names.get(restarted, restarted)
    job = wait_for(ctx, job_id, ended, timeout=300)
    result.update(status=job["status"], error=job["error"], checkpoint_epoch=job["checkpoint_epoch"],
                  model_id=job["model_id"], epochs=[h["epoch"] for h in job["history"]])
    if not max_failures:
        # resumable: a resume is accepted and waits (the only worker node left is gone). Wait until Ray has
        # dropped the dead node from its totals first: the resume must wait for a node, not fail at once as
        # a new job that needs more than the whole cluster has does (this once raced the node's removal)
        deadline = time.monotonic() + 60
        while ray.cluster_resources().get("trainer", 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        result["resume"] = training.resume_job(ctx=ctx, job_id=job_id)["status"]
        result["resume_reason"] = training.get_job(ctx=ctx, job_id=job_id)["queue_reason"]
        nodes["node_c"] = cluster.add_node(**WORKER_NODE, resources={"node_c": 1, **TRAINER})
        node_ids["node_c"] = nodes["node_c"].node_id
        names["node_c"] = node_ids["node_c"]
        worker = wait_worker_node()
        # a new epoch of the resumed run (the record still shows the epoch reached before the node was lost)
        progressed = wait_for(ctx, job_id, lambda j: j["epoch"] > job["epoch"] or ended(j), timeout=240)
        result["after_resume"] = {"status": progressed["status"], "epoch": progressed["epoch"],
                                  "node": {v: k for k, v in node_ids.items()}.get(worker)}
        training.stop_job(ctx=ctx, job_id=job_id)
    out[key] = result
    ctx.close()


def end_training() -> None:
    """Kill every training supervisor (their runs die with them): each step starts on an idle cluster."""
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == "raysight" and entry["name"].startswith("raysight-train-"):
            ray.kill(ray.get_actor(entry["name"], namespace="raysight"))
    time.sleep(1)


def main(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"errors": []}
    timings: dict[str, float] = {}
    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "resources": {"head": 1}, "include_dashboard": False,
        "object_store_memory": 80 * 1024 * 1024})
    nodes = {name: cluster.add_node(**WORKER_NODE, resources={name: 1, **TRAINER}) for name in ("node_a", "node_b")}
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, runtime_env={"env_vars": ray_env()}, logging_level="WARNING")
    node_ids = {"head": cluster.head_node.node_id, **{k: v.node_id for k, v in nodes.items()}}
    # the platform (this driver, so the training supervisor and the runs' fit()) lives on the head
    out["driver_node"] = {v: k for k, v in node_ids.items()}.get(ray.get_runtime_context().get_node_id())
    out["nodes"] = sorted(node_ids)
    timings["cluster"] = time.monotonic() - started
    steps = [
        ("serve", lambda: step_serve(folder, node_ids, out)),
        ("stop_resume", lambda: step_stop_resume(folder, node_ids, out)),
        ("restart", lambda: step_node_dies(cluster, folder, nodes, node_ids, out, max_failures=1, key="restart")),
        ("node_dies", lambda: step_node_dies(cluster, folder, nodes, node_ids, out, max_failures=0,
                                             key="node_dies")),
    ]
    for name, step in steps:
        t0 = time.monotonic()
        try:
            step()
        except Exception:
            out["errors"].append(f"{name}: {traceback.format_exc()}")
        timings[name] = round(time.monotonic() - t0, 1)
        end_training()
    out["timings_s"] = timings
    ray.shutdown()
    cluster.shutdown()
    return out


if __name__ == "__main__":
    result = main(Path(sys.argv[1]))
    print(json.dumps(result))
