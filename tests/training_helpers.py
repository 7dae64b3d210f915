"""Shared by the training tests: a Platform with a training supervisor on the session's Ray cluster, and
waiting for a job's record to reach a state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.services import training
from raysight.settings import Settings


def make_ctx(tmp_path: Path, **settings: Any) -> Iterator[Platform]:
    """Yield a Platform on `tmp_path/ws` with its supervisor attached; shut both down after."""
    from raysight.runtime import attach_trainer

    ctx = Platform.create(Settings(workspace=tmp_path / "ws", **settings))
    client = attach_trainer(ctx)
    yield ctx
    client.shutdown()
    ctx.close()


def ended(job: dict[str, Any]) -> bool:
    return job["status"] not in ("queued", "running")


def wait_for(ctx: Platform, job_id: str, pred: Callable[[dict[str, Any]], bool] = ended,
             timeout: float = 300) -> dict[str, Any]:
    """The job's record once `pred` holds (by default: once it has ended); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = training.get_job(ctx=ctx, job_id=job_id)
        if pred(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} timed out: {training.get_job(ctx=ctx, job_id=job_id)}")


def wait_released(ctx: Platform, job_id: str, timeout: float = 60) -> None:
    """Wait until the supervisor no longer holds the job's run. A job is completed once its final checkpoint is
    stored; Ray Train ends the run about a second later, and the supervisor cleans up the job's folder then."""
    deadline = time.monotonic() + timeout
    while job_id in ctx.job_runner.active()["running"]:
        assert time.monotonic() < deadline, f"the run of {job_id} did not end"
        time.sleep(0.1)


def assert_job_disk_bounded(ctx: Platform, job_id: str) -> list[str]:
    """A job that has ended keeps at most RAYSIGHT_TRAIN_CHECKPOINTS_KEEP checkpoint folders, every one of them
    registered in Ray Train's snapshot, and no temporary checkpoint folders (work/tmp). Returns their names."""
    from raysight import train_storage

    wait_released(ctx, job_id)
    run_dir = ctx.workspace.job_dir(job_id)
    kept = sorted(p.name for p in run_dir.glob("checkpoint_*") if p.is_dir())
    assert len(kept) <= max(1, ctx.settings.train_checkpoints_keep), kept
    assert set(kept) <= (train_storage.registered_dirs(run_dir) or set()), kept
    scratch = run_dir / "work" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir()), sorted(p.name for p in scratch.iterdir())
    return kept
