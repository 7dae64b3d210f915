"""Caps on the work one training request may cause: Train workers (no more than the cluster holds),
data-loader processes per worker, and jobs waiting in the queue."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import Unavailable, Unprocessable
from raysight.store.models import TrainJob

NO_CLUSTER_MAX_WORKERS = 256


def max_train_workers(ctx: Platform) -> int:
    """Train workers one job may ask for: what the cluster holds at the per-worker resources
    (the Cluster port; without a cluster NO_CLUSTER_MAX_WORKERS)."""
    if ctx.cluster is None:
        return NO_CLUSTER_MAX_WORKERS
    total = ctx.cluster.resources()
    settings = ctx.settings
    most = int(float(total.get("CPU", 0.0)) // max(settings.train_cpus_per_worker, 1e-9))
    if settings.train_use_gpu:
        most = min(most, int(float(total.get("GPU", 0.0)) // max(settings.train_gpus_per_worker, 1e-9)))
    return max(1, most)


def _int_in(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_worker_params(ctx: Platform, params: dict[str, Any]) -> None:
    """params.num_workers (Train workers) and params.workers (data-loader processes) within their caps."""
    if "num_workers" in params:
        most = max_train_workers(ctx)
        if not _int_in(params["num_workers"], 1, most):
            raise Unprocessable(f"params.num_workers must be an integer in [1, {most}] (the Train workers "
                                "this cluster can hold)")
    if "workers" in params:
        cap = ctx.settings.max_data_workers
        if not _int_in(params["workers"], 0, cap):
            raise Unprocessable(f"params.workers (data-loader processes) must be an integer in [0, {cap}] "
                                "(RAYSIGHT_MAX_DATA_WORKERS)")


def check_queue(ctx: Platform, queued: str) -> None:
    """Unavailable when RAYSIGHT_MAX_QUEUED_JOBS jobs (status `queued`) already wait."""
    with ctx.db.session() as s:
        waiting = s.query(TrainJob).filter(TrainJob.status == queued).count()
    if waiting >= ctx.settings.max_queued_jobs:
        raise Unavailable(f"{waiting} training jobs are already queued, the most allowed "
                          "(RAYSIGHT_MAX_QUEUED_JOBS); retry when one has started")
