"""The composition root: which implementation of each port (raysight.ports) a process gets.

serving/ and training/ never import services; the domain's implementations of the ports they need
(JobRecords for the training supervisor, ModelCatalog for the model replicas) are handed to them from
here, as factories that the Ray process builds on its own Platform. serving/app.py, serving/ingress.py,
tests and benchmarks wire a Platform through these functions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from raysight.context import Platform
from raysight.ports import JobRecords, ModelCatalog
from raysight.services import retention, tasks
from raysight.services.job_records import TrainingRecords
from raysight.services.models import RegistryCatalog
from raysight.services.paddlex import datasets as paddlex_datasets

if TYPE_CHECKING:
    from raysight.training.client import TrainerClient

log = logging.getLogger(__name__)


def job_records(platform: Platform) -> JobRecords:
    """The training supervisor's record-keeping (a JobRecordsFactory)."""
    return TrainingRecords(platform)


def model_catalog(platform: Platform) -> ModelCatalog:
    """What a model replica reads from the registry (a ModelCatalogFactory)."""
    return RegistryCatalog(platform)


def attach_trainer(platform: Platform) -> TrainerClient:
    """Attach the workspace's training supervisor as `platform.job_runner` (created, and thereby
    reconciled, if it does not run yet)."""
    from raysight.training.client import TrainerClient

    return TrainerClient.attach(platform, records=job_records)


def on_ingress_start(platform: Platform) -> None:
    """What an ingress does once its Platform exists: recover interrupted work, sweep stale files, and
    (under Ray) attach the training supervisor and reconcile the job records with it.

    The supervisor is a detached actor: if only this ingress restarted (the cluster survived), it still
    runs its jobs and they stay 'running'. If it is new (the cluster restarted), creating it marks every
    job the records call running as stopped ("interrupted: server restarted") and queues the queued
    ones again."""
    tasks.fail_interrupted(ctx=platform)
    paddlex_datasets.fail_interrupted_imports(ctx=platform)
    retention.maybe_sweep_uploads(ctx=platform)
    swept = platform.workspace.sweep_tmp()
    if swept:
        log.info("removed %d stale staging entries from %s", swept, platform.workspace.tmp)
    import ray

    if not ray.is_initialized():
        return
    counts = attach_trainer(platform).reconcile()
    if any(counts.values()):
        log.info("training jobs reconciled at start-up: %s", counts)
