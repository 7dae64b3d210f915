"""Per-deployment options from serve_config.yaml's `args.models`, and GPU placement decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from raysight.serving.grouping import Grouping

# grouped calls out per replica: one computing, one waiting on the replica for the model thread (no gap
# between two calls), and no more (a replica that holds the model would otherwise take all of them)
CALLS_PER_REPLICA = 2


@dataclass
class ModelDeploymentOptions:
    """What serve_config.yaml may set for one model family's deployment."""

    num_gpus: float = 0.0
    num_cpus: float = 0.1
    max_num_models_per_replica: int = 3
    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.002
    max_ongoing_requests: int = 32
    # requests each caller (the ingress) queues for this deployment beyond those in flight; when full,
    # the ingress answers 503 with Retry-After: retry_after_s (-1 = no limit: requests wait)
    max_queued_requests: int = -1
    retry_after_s: float = 1.0
    # custom Ray resources per replica, to pin a family to labelled nodes (e.g. {"gpu_pool_a": 1})
    resources: dict[str, float] = field(default_factory=dict)
    num_replicas: int | None = None
    # torch intra-op threads of a CPU replica; None = the cores this process may run on (see torch_threads)
    cpu_threads: int | None = None
    # on a cluster without GPUs: at least this many replicas (autoscaling min_replicas), each computing
    # on its share of the cores (torch_threads); None = as autoscaling_config / num_replicas say
    cpu_replicas: int | None = None
    # images of one model the ingress sends in one call when requests queue for the replicas (1 = every
    # request its own call); only with a fixed replica count (see grouping)
    call_batch_size: int = 1
    # how often each replica drops registry models that were deleted or updated (0 = never)
    reconcile_interval_s: float = 10.0
    autoscaling_config: dict[str, Any] | None = field(
        default_factory=lambda: {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}
    )
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, raw: dict[str, Any] | None) -> ModelDeploymentOptions:
        raw = dict(raw or {})
        known = {k: raw.pop(k) for k in list(raw) if k in cls.__dataclass_fields__ and k != "extra"}
        opts = cls(**known)
        opts.extra = {**(raw.pop("extra", None) or {}), **raw}  # round-trips asdict()
        if opts.num_replicas is not None:
            opts.autoscaling_config = None
        return opts

    def torch_threads(self, device: str) -> int:
        """torch intra-op threads: cpu_threads if set; on CPU otherwise the node's cores less one (at
        least 1), like ultralytics' own default, divided among cpu_replicas. num_cpus is a scheduling
        share (Ray does not pin a replica to cores), so round(num_cpus) would give 1 thread on any node;
        all cores is worse: the Serve proxy and the ingress need a core too, and OpenMP threads that find
        their core busy spin (on a loaded 2-core box, 2 threads ran 10x slower than 1, bench/serving.py).
        On a GPU the CPU side only feeds the device: round(num_cpus) threads (at least 1)."""
        if self.cpu_threads:
            return int(self.cpu_threads)
        if device == "cpu":
            import os

            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            return max(1, (cores - 1) // max(1, self.cpu_replicas or 1))
        return max(1, round(self.num_cpus))

    def placed(self, cluster_gpus: float) -> ModelDeploymentOptions:
        """The same options with the GPU share dropped where the cluster has no GPU: a replica that
        asks for a GPU on a GPU-less cluster would never start. There, autoscaling keeps at least
        cpu_replicas replicas (an explicit num_replicas stays as it is)."""
        if cluster_gpus > 0:
            return self
        changes: dict[str, Any] = {"num_gpus": 0.0} if self.num_gpus else {}
        if self.cpu_replicas and self.num_replicas is None and self.autoscaling_config:
            scaling = dict(self.autoscaling_config)
            scaling["min_replicas"] = max(int(scaling.get("min_replicas", 1)), int(self.cpu_replicas))
            scaling["max_replicas"] = max(int(scaling.get("max_replicas", 1)), scaling["min_replicas"])
            changes["autoscaling_config"] = scaling
        return ModelDeploymentOptions(**{**asdict(self), **changes}) if changes else self

    def grouping(self) -> Grouping | None:
        """How the ingress groups this deployment's predictions (serving/grouping.py): with a
        call_batch_size above 1 and a fixed replica count (num_replicas, or autoscaling between equal
        bounds, as `placed` makes it with cpu_replicas on a cluster without GPUs), CALLS_PER_REPLICA
        calls out per replica and at most max_queued_requests images waiting in the ingress. None where
        autoscaling changes the count: the ingress would not know how many calls to keep out, and the
        requests waiting in it would not count for the autoscaler. With grouping, a replica takes
        CALLS_PER_REPLICA calls at a time (max_ongoing_requests): Serve routes a model's calls to the
        replicas that hold it as long as one accepts, so with more room the calls of a model first
        loaded on one replica would all stay there."""
        if self.call_batch_size <= 1:
            return None
        if self.num_replicas is not None:
            replicas = int(self.num_replicas)
        else:
            scaling = self.autoscaling_config or {}
            low, high = int(scaling.get("min_replicas", 1)), int(scaling.get("max_replicas", 1))
            if low != high:
                return None
            replicas = high
        return Grouping(max_items=int(self.call_batch_size), calls=CALLS_PER_REPLICA * max(1, replicas),
                        max_waiting=int(self.max_queued_requests), retry_after_s=float(self.retry_after_s))

    def deployment_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                  **({"resources": dict(self.resources)} if self.resources else {})},
            # grouped calls: CALLS_PER_REPLICA at a time per replica, so that further calls go to another
            # replica (Serve keeps routing a model's calls to the replica that holds it while that one accepts)
            "max_ongoing_requests": CALLS_PER_REPLICA if self.grouping() else self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "backpressure_config": {"status_code": 503, "retry_after_s": self.retry_after_s},
        }
        if self.num_replicas is not None:
            kwargs["num_replicas"] = self.num_replicas
        else:
            kwargs["autoscaling_config"] = self.autoscaling_config
        return kwargs
