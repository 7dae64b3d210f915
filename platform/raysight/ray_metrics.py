"""The Ray implementation of the metrics port: ray.util.metrics Counter / Histogram / Gauge, exported by
each node's metrics agent on Ray's Prometheus endpoint (as ``ray_<name>``, next to Ray's and Serve's
own metrics). Installed by the ingress, the model deployments and the training supervisor."""

from __future__ import annotations

import logging
import threading
from typing import Any

from raysight import metrics

log = logging.getLogger(__name__)


class RayRecorder:
    """Creates each ray.util.metrics object on first use (they must be made inside a Ray process)."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._failed: set[str] = set()

    def _metric(self, name: str, spec: metrics.MetricSpec) -> Any:
        found = self._objects.get(name)
        if found is not None:
            return found
        from ray.util import metrics as ray_metrics

        with self._lock:
            if name not in self._objects:
                if spec.kind == "counter":
                    made: Any = ray_metrics.Counter(name, description=spec.description, tag_keys=spec.tags)
                elif spec.kind == "histogram":
                    made = ray_metrics.Histogram(name, description=spec.description, boundaries=list(spec.buckets),
                                                 tag_keys=spec.tags)
                else:
                    made = ray_metrics.Gauge(name, description=spec.description, tag_keys=spec.tags)
                self._objects[name] = made
            return self._objects[name]

    def _record(self, name: str, kind: metrics.Kind, value: float, tags: dict[str, str]) -> None:
        spec = metrics.check(name, kind, tags)
        try:
            metric = self._metric(name, spec)
            clean = {k: str(v) for k, v in tags.items()}
            if kind == "counter":
                metric.inc(value, tags=clean)
            elif kind == "histogram":
                metric.observe(value, tags=clean)
            else:
                metric.set(value, tags=clean)
        except Exception:  # metrics never fail the work they measure
            if name not in self._failed:
                self._failed.add(name)
                log.exception("recording metric %s failed", name)

    def inc(self, name: str, value: float = 1.0, /, **tags: str) -> None:
        self._record(name, "counter", value, tags)

    def observe(self, name: str, value: float, /, **tags: str) -> None:
        self._record(name, "histogram", value, tags)

    def set(self, name: str, value: float, /, **tags: str) -> None:
        self._record(name, "gauge", value, tags)


def install() -> None:
    """Make this (Ray) process record through Ray (idempotent)."""
    if not isinstance(metrics.recorder(), RayRecorder):
        metrics.use(RayRecorder())


def prometheus_endpoints() -> dict[str, Any]:
    """The Prometheus endpoint of this process's node (it carries this node's raysight metrics) and
    those of every live node of the cluster."""
    import ray

    if not ray.is_initialized():
        return {}
    here = ray.get_runtime_context().get_node_id()
    nodes = {}
    for node in ray.nodes():
        if node.get("Alive") and node.get("MetricsExportPort"):
            nodes[node["NodeID"]] = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    return {"url": nodes.get(here), "nodes": sorted(nodes.values())}
