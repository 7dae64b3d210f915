"""Health probes for Ray and Serve (registered on the Platform by the ingress)."""

from __future__ import annotations

from typing import Any

import ray
from ray import serve

from raysight.ray_metrics import prometheus_endpoints


def ray_probe() -> dict[str, Any]:
    if not ray.is_initialized():
        return {"ok": False, "detail": "ray is not initialized"}
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "ok": True,
        "nodes": len(nodes),
        "resources": ray.cluster_resources(),
        "available": ray.available_resources(),
        # Ray's Prometheus endpoints: `url` carries this ingress's raysight_* metrics (as ray_raysight_*)
        "prometheus": prometheus_endpoints(),
    }


def serve_probe(placements: dict[str, dict[str, Any]]) -> dict[str, Any]:
    status = serve.status()
    deployments: dict[str, Any] = {}
    ok = True
    for app_name, app in status.applications.items():
        for dep_name, dep in app.deployments.items():
            state = str(getattr(dep.status, "value", dep.status))
            ok = ok and state in ("HEALTHY", "UPSCALING", "DOWNSCALING", "UPDATING")
            deployments[dep_name] = {
                "application": app_name,
                "status": state,
                "replicas": {str(getattr(k, "value", k)): v for k, v in dep.replica_states.items()},
                **placements.get(dep_name, {}),
            }
    return {"ok": ok, "deployments": deployments}


def dashboard_url() -> str | None:
    """The Ray dashboard's URL as the dashboard registered it with the cluster, or None without one."""
    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized

    if not ray.is_initialized() or not _internal_kv_initialized():
        return None
    address = _internal_kv_get("dashboard", namespace="dashboard")
    return f"http://{address.decode()}" if address else None


_NVIDIA_SMI_QUERY = ["nvidia-smi", "--query-gpu=index,name,memory.total,memory.used,memory.free",
                     "--format=csv,noheader,nounits"]


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free
    --format=csv,noheader,nounits` as dicts (memory in MiB; None where a field is not a number)."""

    def mb(field: str) -> int | None:
        return int(float(field)) if field.replace(".", "", 1).isdigit() else None

    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5:
            continue
        gpus.append({"index": int(parts[0]) if parts[0].isdigit() else parts[0], "name": parts[1],
                     "memory_total_mb": mb(parts[2]), "memory_used_mb": mb(parts[3]), "memory_free_mb": mb(parts[4])})
    return gpus


def _node_gpus() -> list[dict[str, Any]]:
    """This node's GPUs as nvidia-smi reports them (runs inside a Ray task on the node)."""
    import subprocess

    try:
        out = subprocess.run(_NVIDIA_SMI_QUERY, capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def gpu_probe() -> list[dict[str, Any]]:
    """Every GPU of every live node Ray counts GPUs on, with memory from nvidia-smi on that node
    (memory None where the node cannot say). An empty list on a CPU-only cluster."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    found: list[dict[str, Any]] = []
    for node in ray.nodes():
        count = int(float(node.get("Resources", {}).get("GPU", 0)))
        if not node.get("Alive") or count <= 0:
            continue
        task = ray.remote(num_cpus=0)(_node_gpus).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
        try:
            listed = ray.get(task.remote(), timeout=30)
        except Exception:
            listed = []
        by_index = {g["index"]: g for g in listed}
        for index in range(count):
            info = by_index.get(index, {"index": index, "name": None, "memory_total_mb": None,
                                        "memory_used_mb": None, "memory_free_mb": None})
            found.append({"node": node.get("NodeManagerAddress"), "node_id": node["NodeID"], **info})
    return found
