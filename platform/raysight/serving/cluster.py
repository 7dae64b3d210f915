"""The Cluster port (raysight.ports) over the Ray cluster this process joined: its resources (the cap on
Train workers per job), the Ray and Serve health probes, and the dashboard's URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray

from raysight.serving.probes import dashboard_url, gpu_probe, ray_probe, serve_probe

DASHBOARD_FROM_CLUSTER = "from-cluster"  # /health reports the address the cluster's dashboard registered


class RayCluster:
    """`placements`: where each model deployment was placed (shared with the Predictor); `dashboard`:
    the dashboard URL `raysight serve` started (None: none), or DASHBOARD_FROM_CLUSTER to ask the cluster."""

    def __init__(self, placements: dict[str, dict[str, Any]], dashboard: str | None = DASHBOARD_FROM_CLUSTER) -> None:
        self.placements = placements
        self._dashboard = dashboard
        self._probes: dict[str, Callable[[], dict[str, Any]]] = {
            "ray": ray_probe,
            "serve": lambda: serve_probe(self.placements),
        }

    def resources(self) -> dict[str, float]:
        return dict(ray.cluster_resources())

    def probe(self, component: str) -> dict[str, Any]:
        probe = self._probes.get(component)
        if probe is None:
            return {"ok": False, "detail": f"no probe for '{component}'"}
        return probe()

    def dashboard_url(self) -> str | None:
        return dashboard_url() if self._dashboard == DASHBOARD_FROM_CLUSTER else self._dashboard

    def gpus(self) -> list[dict[str, Any]]:
        return gpu_probe()
