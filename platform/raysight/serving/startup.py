"""What the ingress does once its Platform exists (recovery of interrupted work, supervisors)."""

from __future__ import annotations

import logging

from raysight.context import Platform

log = logging.getLogger(__name__)


def on_ingress_start(platform: Platform) -> None:
    from raysight.services import tasks

    tasks.fail_interrupted(ctx=platform)
    from raysight.services import retention

    retention.maybe_sweep_uploads(ctx=platform)
    swept = platform.workspace.sweep_tmp()
    if swept:
        log.info("removed %d stale staging entries from %s", swept, platform.workspace.tmp)
    start_trainer(platform)


def start_trainer(platform: Platform) -> None:
    """Attach the training supervisor and reconcile job records with it.

    The supervisor is a detached actor: if only this ingress restarted (the cluster survived), it
    still runs its jobs and they stay 'running'. If it is new (the cluster restarted), creating it
    marks every job the records call running as stopped ("interrupted: server restarted") and
    queues the queued ones again."""
    import ray

    if not ray.is_initialized():
        return
    from raysight.training.client import TrainerClient

    client = TrainerClient.attach(platform)
    counts = client.reconcile()
    if any(counts.values()):
        log.info("training jobs reconciled at start-up: %s", counts)
