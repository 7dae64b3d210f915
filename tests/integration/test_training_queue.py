"""The training queue on a real Ray cluster: a job that needs more than the whole cluster has fails at once,
a job that does not fit now says why and does not block the jobs behind it, and a job stopped before its
first checkpoint restarts from epoch 0 on resume."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from raysight.context import Platform
from raysight.services import datasets, training
from tests.datagen import reader_over, write_classify_zip
from tests.training_helpers import ended, make_ctx, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]
PER_WORKER = 1.5


@pytest.fixture
def qctx(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    yield from make_ctx(tmp_path, train_cpus_per_worker=PER_WORKER, max_concurrent_jobs=2)


@ray.remote
class Holder:
    """Other work on the cluster holding CPUs (as Serve replicas or another platform's jobs do)."""

    def ready(self) -> bool:
        return True


def _job(ctx: Platform, ds: str, workers: int, epochs: int = 1) -> dict[str, str]:
    return training.create_job(ctx=ctx, dataset_id=ds, model_name="resnet18", epochs=epochs, imgsz=48, batch=8,
                               params={"num_workers": workers})


def test_impossible_jobs_fail_at_once_and_waiting_jobs_block_nobody(qctx: Platform, tmp_path: Path) -> None:
    archive = write_classify_zip(tmp_path / "c.zip", 8, size=48)
    ds = asyncio.run(datasets.upload(ctx=qctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=qctx, dataset_id=ds["dataset_id"])
    ds_id = ds["dataset_id"]

    total = ray.cluster_resources()["CPU"]
    never = _job(qctx, ds_id, math.floor(total / PER_WORKER) + 1)
    assert never["status"] == "failed", never
    job = training.get_job(ctx=qctx, job_id=never["job_id"])
    assert "the whole Ray cluster has" in job["error"] and " CPU " in job["error"], job
    assert job["queue_reason"] is None

    # leave 2.5 CPUs free: two 1.5-CPU workers wait, one starts
    holder = Holder.options(num_cpus=ray.available_resources()["CPU"] - 2.5).remote()
    ray.get(holder.ready.remote())
    try:
        big = _job(qctx, ds_id, 2)
        assert big["status"] == "queued"
        reason = training.get_job(ctx=qctx, job_id=big["job_id"])["queue_reason"]
        assert reason.startswith("waiting for 3 CPU: 2.5 of ") and "CPU are free" in reason, reason
        assert f"Queued: {reason}" in Path(training.get_job(ctx=qctx, job_id=big["job_id"])["log_file"]).read_text()
        listed = {j["job_id"]: j for j in training.list_jobs(ctx=qctx)["jobs"]}
        assert listed[big["job_id"]]["queue_reason"] == reason
        small = _job(qctx, ds_id, 1, epochs=2)
        assert small["status"] == "running", small  # the waiting job before it blocks nothing

        # stopped before its first checkpoint: resume starts it again from epoch 0
        assert training.stop_job(ctx=qctx, job_id=small["job_id"])["ok"]
        stopped = training.get_job(ctx=qctx, job_id=small["job_id"])
        assert stopped["status"] == "stopped" and stopped["checkpoint_epoch"] is None, stopped
        out = training.resume_job(ctx=qctx, job_id=small["job_id"])
        assert out["status"] == "running" and "restarted from epoch 0" in out["message"], out
        done = wait_for(qctx, small["job_id"], ended)
        assert done["status"] == "completed" and done["resumed_from_epoch"] == 0, done
        assert [h["epoch"] for h in done["history"]] == [1, 2]
        text = Path(done["log_file"]).read_text()
        assert "restarting from epoch 0" in text and "Resuming from the checkpoint" not in text
        assert training.get_job(ctx=qctx, job_id=big["job_id"])["status"] == "queued"
    finally:
        ray.kill(holder)
    started = time.monotonic()
    job = wait_for(qctx, big["job_id"], lambda j: j["status"] != "queued", timeout=60)
    assert job["status"] in ("running", "completed") and time.monotonic() - started < 10, job
    assert wait_for(qctx, big["job_id"], ended)["status"] == "completed"
