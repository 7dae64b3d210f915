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
