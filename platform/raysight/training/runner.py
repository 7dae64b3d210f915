"""One run of a training job: a TorchTrainer built from the job spec, executed by `run_job` (a Ray task
the supervisor owns, so that `ray.cancel` on it stops the run and keeps its checkpoints).

Every run of a job uses RunConfig(name=<job id>, storage_path=<workspace>/jobs): Ray Train V2 then
restores the run's checkpoint manager from that folder, so a rebuilt trainer resumes from the last
checkpoint (after a stop, a failure or a restart of the whole platform).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.backend import BackendConfig
from ray.train.torch import TorchConfig, TorchTrainer
from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

from raysight.settings import Settings
from raysight.training import placement_groups, warm_processes
from raysight.training.one_worker import OneWorkerTorchConfig
from raysight.training.placement_groups import PlacementGroupRecord
from raysight.training.worker import run_worker


def scaling_config(settings: Settings, num_workers: int) -> ScalingConfig:
    resources: dict[str, float] = {"CPU": float(settings.train_cpus_per_worker)}
    if settings.train_use_gpu:
        resources["GPU"] = float(settings.train_gpus_per_worker)
    resources.update({k: float(v) for k, v in settings.train_worker_resources.items()})
    return ScalingConfig(num_workers=num_workers, use_gpu=settings.train_use_gpu, resources_per_worker=resources)


def needed_resources(settings: Settings, num_workers: int) -> dict[str, float]:
    """What a run of `num_workers` workers takes from the cluster (for the supervisor's queue)."""
    need = {"CPU": float(settings.train_cpus_per_worker) * num_workers}
    if settings.train_use_gpu:
        need["GPU"] = float(settings.train_gpus_per_worker) * num_workers
    for name, amount in settings.train_worker_resources.items():
        need[name] = float(amount) * num_workers
    return need


class RaysightTrainer(TorchTrainer):
    """TorchTrainer without two helper processes Ray Train starts for every run: the DatasetManager of a run
    that has no datasets (raysight's train loops read their data from the workspace), and the
    PlacementGroupCleaner where the run records its placement groups for the supervisor instead
    (training.placement_groups). Each is a Python process (~1 s of CPU) started while the run starts. Ray
    Train builds its default callbacks in `_create_default_callbacks`; on a Ray without that method both
    helpers run, as they would anyway."""

    def _create_default_callbacks(self) -> list[Any]:
        callbacks = super()._create_default_callbacks()
        recorded = any(isinstance(cb, PlacementGroupRecord) for cb in callbacks)

        def needed(cb: Any) -> bool:
            if isinstance(cb, PlacementGroupCleanerCallback):
                return not recorded
            if isinstance(cb, DatasetsCallback):
                return bool(self.datasets)
            return True

        return [cb for cb in callbacks if needed(cb)]


def torch_config(num_workers: int) -> BackendConfig:
    """A process group only where there are several workers to join (training.one_worker)."""
    return OneWorkerTorchConfig() if num_workers == 1 else TorchConfig()


def build_trainer(spec: dict[str, Any], settings: Settings) -> RaysightTrainer:
    """spec: {"job_id", "ctx" (TrainContext as dict + supervisor), "num_workers", "fn"}. With a supervisor, the
    run records its placement groups for it (training.placement_groups)."""
    config = {**spec["ctx"], "fn": spec["fn"]}
    storage = settings.workspace_dir / "jobs"
    record = placement_groups.record_path(storage / spec["job_id"])
    callbacks = [PlacementGroupRecord(str(record))] if spec["ctx"].get("supervisor") else []
    run_config = RunConfig(
        name=spec["job_id"],
        storage_path=str(storage),
        checkpoint_config=CheckpointConfig(num_to_keep=max(1, settings.train_checkpoints_keep)),
        failure_config=FailureConfig(max_failures=settings.train_max_failures),
        callbacks=callbacks,
        worker_runtime_env=warm_processes.worker_runtime_env(),
    )
    return RaysightTrainer(
        run_worker,
        train_loop_config=config,
        scaling_config=scaling_config(settings, int(spec["num_workers"])),
        torch_config=torch_config(int(spec["num_workers"])),
        run_config=run_config,
    )


@contextmanager
def sigint_handler_restored() -> Iterator[None]:
    """Around fit(): the SIGINT handler of this process as it was before, once fit() has returned or raised.

    fit() in a process's main thread (a Ray task's, as here) installs Ray Train's SIGINT handler, which aborts
    the run gracefully; `ray.cancel` on this task reaches it too, which is how a stop keeps the run's
    checkpoints. The handler holds the run's controller actor handle, and Ray Train never removes it: the
    controller (~200 MB) then outlived every run in this reused worker process until the next fit()
    replaced the handler, or until `placement_groups.release` killed it (a worker-died error in the
    cluster's log for every job). Put back, the handle goes, and Ray ends the controller in order."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


@ray.remote(num_cpus=0, max_retries=0)
def run_job(spec: dict[str, Any], settings_args: dict[str, Any]) -> dict[str, Any]:
    """Run fit() to the end. Returns the final checkpoint's folder (the run's artifacts) and metrics."""
    settings = Settings.from_args(settings_args)
    with sigint_handler_restored():
        result = build_trainer(spec, settings).fit()
    checkpoint = result.checkpoint
    return {"checkpoint": checkpoint.path if checkpoint is not None else None, "metrics": dict(result.metrics or {})}


@ray.remote(num_cpus=0, max_retries=0)
def warm_up() -> bool:
    """A no-op in the worker pool `run_job` uses: the process it leaves idle has Ray Train and torch imported,
    so the first job after a start does not pay a worker start-up (Ray reuses idle workers of the same
    job and runtime environment)."""
    import ray.train.v2.api.data_parallel_trainer  # noqa: F401
    import torch  # noqa: F401

    _start_autoscaling_coordinator()
    return True


def _start_autoscaling_coordinator() -> None:
    """Ray Train's controller registers every run with a detached AutoscalingCoordinator actor (created on
    the first run of the cluster, waited for up to 5 s). Started here, the first job does not pay the start
    of that process; where the internal helper is missing (another Ray version) the controller starts it."""
    try:
        from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
            get_or_create_autoscaling_coordinator,
        )
    except ImportError:
        return
    try:
        coordinator = get_or_create_autoscaling_coordinator()
        ray.get(coordinator.__ray_ready__.remote(), timeout=60)
    except Exception:  # only a head start: the controller creates it again if needed
        return
