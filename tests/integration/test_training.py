"""Training jobs on a real Ray cluster: stop + resume (epochs continue), queueing and failures, and
recovery after `raysight serve` is SIGKILLed mid-training."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from raysight.context import Platform
from raysight.services import datasets, models, training
from raysight.services.job_records import TrainingRecords
from raysight.settings import Settings
from raysight.training import placement_groups, warm_processes
from raysight.training.client import TrainerClient
from tests.conftest import _free_port
from tests.datagen import reader_over, write_classify_zip, write_yolo_zip
from tests.training_helpers import assert_job_disk_bounded, ended, make_ctx, wait_for, wait_released

pytestmark = [pytest.mark.slow, pytest.mark.ray]
ROOT = Path(__file__).parents[2]


@pytest.fixture
def rctx(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    yield from make_ctx(tmp_path, train_cpus_per_worker=2)


@pytest.fixture
def one_at_a_time(ray_cluster: None, tmp_path: Path) -> Iterator[Platform]:
    yield from make_ctx(tmp_path, train_cpus_per_worker=1, max_concurrent_jobs=1)


def dataset(ctx: Platform, archive: Path) -> str:
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    return ds["dataset_id"]


def processes_ready(ctx: Platform) -> None:
    """Until the next run's processes wait, started ahead (training.warm_processes): a run that starts
    before they are up starts its own, as it would without them."""
    supervisor = ctx.job_runner.actor()
    deadline = time.monotonic() + 90
    while (ready := tuple(ray.get(supervisor.processes_ahead.remote()))) != warm_processes.TARGETS:
        assert time.monotonic() < deadline, ready
        time.sleep(0.5)


def test_stop_and_resume_continue_the_epoch_count(rctx: Platform, tmp_path: Path) -> None:
    """Also: each run's worker starts in a process started ahead, with its libraries imported, and the
    supervisor tops those processes up after a run without adding more than one run uses."""
    ds = dataset(rctx, write_yolo_zip(tmp_path / "d.zip", 32, size=128))
    processes_ready(rctx)
    job_id = training.create_job(ctx=rctx, dataset_id=ds, model_name="yolov8n.pt", epochs=8, imgsz=128, batch=8,
                                 params={"plots": False, "mosaic": 0.0})["job_id"]
    wait_for(rctx, job_id, lambda j: j["epoch"] >= 3 or ended(j))
    started = time.monotonic()
    assert training.stop_job(ctx=rctx, job_id=job_id)["ok"] is True
    assert time.monotonic() - started < 20
    job = training.get_job(ctx=rctx, job_id=job_id)
    assert job["status"] == "stopped" and job["error"] is None
    kept = job["checkpoint_epoch"]
    assert kept is not None and 1 <= kept < 8  # the last checkpoint Ray Train registered
    assert_job_disk_bounded(rctx, job_id)  # a checkpoint written during the stop but never registered is gone
    time.sleep(3)  # nothing runs any more
    assert training.get_job(ctx=rctx, job_id=job_id)["epoch"] == job["epoch"]
    with pytest.raises(Exception, match="only queued or running"):
        training.stop_job(ctx=rctx, job_id=job_id)

    processes_ready(rctx)
    out = training.resume_job(ctx=rctx, job_id=job_id)
    assert out["ok"] is True and out["status"] == "running"
    job = wait_for(rctx, job_id, ended, timeout=400)
    assert job["status"] == "completed", job
    assert [h["epoch"] for h in job["history"]] == list(range(1, 9))
    assert job["epoch"] == 8 and job["checkpoint_epoch"] == 8 and job["attempt"] == 1 and job["model_id"]
    assert len(assert_job_disk_bounded(rctx, job_id)) == 2  # RAYSIGHT_TRAIN_CHECKPOINTS_KEEP over both runs
    text = Path(job["log_file"]).read_text()
    assert f"Resuming from the checkpoint of epoch {kept}" in text
    assert "Resuming training" in text and f"from epoch {kept + 1} to 8 total epochs" in text  # ultralytics
    after = text.split(f"Resuming from the checkpoint of epoch {kept}", 1)[1]
    assert re.findall(r"Epoch (\d+)/8 ", after)[0] == str(kept + 1)
    starts = [ln for ln in text.splitlines() if "Starting training: " in ln]
    assert len(starts) == 2 and all("worker process started ahead (torch, " in ln for ln in starts), starts
    assert all("ultralytics" in ln for ln in starts)
    processes_ready(rctx)
    assert ray.get(rctx.job_runner.actor().start_processes_ahead.remote()) == 0  # nothing missing, none added


def test_jobs_queue_when_there_is_no_room_and_failures_are_recorded(one_at_a_time: Platform, tmp_path: Path) -> None:
    ctx = one_at_a_time
    good = dataset(ctx, write_classify_zip(tmp_path / "a.zip", 12, size=48))
    (tmp_path / "b").mkdir()
    broken = dataset(ctx, write_classify_zip(tmp_path / "b" / "b.zip", 6, size=48))
    ctx.workspace.remove(ctx.workspace.version_dir(broken, "v1") / "train")  # the run will find no images

    first = training.create_job(ctx=ctx, dataset_id=good, model_name="resnet18", epochs=3, imgsz=48, batch=8)
    second = training.create_job(ctx=ctx, dataset_id=broken, model_name="resnet18", epochs=3, imgsz=48, batch=8)
    third = training.create_job(ctx=ctx, dataset_id=good, model_name="resnet18", epochs=1, imgsz=48, batch=8)
    assert first["status"] == "running" and second["status"] == "queued" and third["status"] == "queued"
    assert training.stop_job(ctx=ctx, job_id=third["job_id"])["ok"] is True
    assert training.get_job(ctx=ctx, job_id=third["job_id"])["status"] == "stopped"
    assert training.get_job(ctx=ctx, job_id=second["job_id"])["status"] == "queued"

    job = wait_for(ctx, first["job_id"], ended)
    assert job["status"] == "completed", job
    failed = wait_for(ctx, second["job_id"], ended)
    assert failed["status"] == "failed" and "no training images" in failed["error"], failed
    assert failed["started_at"] >= job["completed_at"]  # it started by itself once room freed
    log_text = Path(failed["log_file"]).read_text()
    assert "ERROR: ValueError: no training images" in log_text and "Training failed" in log_text
    # it ended before its first checkpoint: resume runs it again from epoch 0 (and it fails the same way)
    out = training.resume_job(ctx=ctx, job_id=second["job_id"])
    assert out["message"] == "Training job restarted from epoch 0 (it had no checkpoint)", out
    again = wait_for(ctx, second["job_id"], lambda j: ended(j) and j["attempt"] == 1)
    assert again["status"] == "failed" and again["resumed_from_epoch"] == 0, again
    log_text = Path(failed["log_file"]).read_text()
    assert "restarting from epoch 0" in log_text and log_text.count("ERROR: ValueError: no training images") == 2



class RecordsAtCompletion(TrainingRecords):
    """The supervisor's records, noting when the model is registered how many placement groups are up."""

    def complete(self, job_id: str, artifacts: Path | str) -> dict[str, Any]:
        up = sum(pg["state"] == "CREATED" for pg in ray.util.placement_group_table().values())
        (self.ctx.workspace.root / f"{job_id}.pgs").write_text(str(up))
        return super().complete(job_id, artifacts)


def test_a_job_completes_from_its_final_report_while_ray_train_ends_the_run(ray_cluster: None,
                                                                             tmp_path: Path) -> None:
    """The model is registered as soon as the final checkpoint is stored, not a second later when fit() has
    ended the worker group (its placement group is still up then); the end of the run changes nothing."""
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", train_cpus_per_worker=1))
    client = TrainerClient.attach(ctx, records=RecordsAtCompletion)
    try:
        ds = dataset(ctx, write_classify_zip(tmp_path / "a.zip", 12, size=48))
        job_id = training.create_job(ctx=ctx, dataset_id=ds, model_name="resnet18", epochs=1, imgsz=48,
                                     batch=8)["job_id"]
        job = wait_for(ctx, job_id, ended)
        assert job["status"] == "completed" and job["model_id"], job
        wait_released(ctx, job_id)
        up_now = sum(pg["state"] == "CREATED" for pg in ray.util.placement_group_table().values())
        assert int((ctx.workspace.root / f"{job_id}.pgs").read_text()) == up_now + 1  # the run's, then gone
        after = training.get_job(ctx=ctx, job_id=job_id)
        assert after["status"] == "completed" and after["model_id"] == job["model_id"] and not after["error"]
        assert [m["model_id"] for m in models.list_models(ctx=ctx)["models"] if m.get("job_id") == job_id] == \
            [job["model_id"]]  # registered once
        assert_job_disk_bounded(ctx, job_id)
        assert client.stop(job_id) == "unknown" and training.delete_job(ctx=ctx, job_id=job_id)["ok"] is True
        assert not ctx.workspace.job_dir(job_id).exists()
    finally:
        client.shutdown()
        ctx.close()


def _processes_titled(prefix: str) -> list[int]:
    """PIDs whose command line starts with `prefix` (Ray titles a busy task worker `ray::<task>`)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(prefix.encode()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _groups_up() -> set[str]:
    return {key for key, pg in ray.util.placement_group_table().items() if pg["state"] == "CREATED"}


def test_a_crashed_ray_worker_interrupts_the_job_and_keeps_its_checkpoint(rctx: Platform, tmp_path: Path) -> None:
    """The process running a job's fit() dies (OOM killer, node trouble) while the platform lives on: the
    job ends `stopped` with "interrupted: ..." (resumable), not `failed`."""
    ds = dataset(rctx, write_classify_zip(tmp_path / "c.zip", 24, size=64))
    before = _groups_up()
    other_controllers = set(_processes_titled("ray::TrainController"))  # not this run's
    job_id = training.create_job(ctx=rctx, dataset_id=ds, model_name="resnet18", epochs=40, imgsz=64,
                                 batch=16)["job_id"]
    # the record's checkpoint_epoch follows the worker's reports; Ray Train registers a checkpoint (what a
    # resume uses, and what the record says once the run ended) when its controller takes the report, which
    # has happened for epoch N-1 once the worker reported epoch N (the report queue holds one)
    job = wait_for(rctx, job_id, lambda j: (j["checkpoint_epoch"] or 0) >= 2 or ended(j))
    assert job["status"] == "running", job
    runs_groups = _groups_up() - before
    assert len(runs_groups) == 1, runs_groups
    # the run starts no Ray Train helper it does not need (runner.RaysightTrainer), and its controller does
    # not import torch (training.one_worker)
    assert not _processes_titled("ray::PlacementGroupCleaner") and not _processes_titled("ray::DatasetManager")
    controllers = [pid for pid in _processes_titled("ray::TrainController") if pid not in other_controllers]
    assert controllers
    assert not [pid for pid in controllers if b"libtorch" in Path(f"/proc/{pid}/maps").read_bytes()]
    pids = _processes_titled("ray::run_job")
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)  # its Ray Train controller dies with it, before removing its group
    job = wait_for(rctx, job_id, ended, timeout=120)
    assert job["status"] == "stopped" and job["error"].startswith("interrupted: "), job
    assert (job["checkpoint_epoch"] or 0) >= 1
    assert "Interrupted: " in Path(job["log_file"]).read_text()
    wait_released(rctx, job_id)
    assert not runs_groups & _groups_up()  # the supervisor removed what the dead controller held
    # and the run's controller process is gone: ended with its actor, or by the supervisor after the grace
    # (Ray was seen to leave one stuck in its exit, parented to init once the cluster stopped)
    assert not _still_running(controllers, timeout=placement_groups.CONTROLLER_GRACE_S + 30), controllers


def test_a_run_s_controller_ends_with_its_fit(ray_cluster: None, tmp_path: Path) -> None:
    """fit() in a main thread (run_job's, here the test's) installs Ray Train's SIGINT handler, which holds the
    run's controller: without `sigint_handler_restored` the controller process lives on after fit() returns
    (until killed: placement_groups' grace, here never)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from raysight.training.runner import sigint_handler_restored

    def loop(_config: dict[str, Any]) -> None:
        ray.train.report({"done": 1})

    before, seen, running = set(_processes_titled("ray::TrainController")), set(), True

    def watch() -> None:
        while running:
            seen.update(set(_processes_titled("ray::TrainController")) - before)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    previous = signal.getsignal(signal.SIGINT)
    with sigint_handler_restored():
        TorchTrainer(loop, train_loop_config={},
                     scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1.0}),
                     run_config=RunConfig(name="controller_end", storage_path=str(tmp_path))).fit()
        assert signal.getsignal(signal.SIGINT) is not previous  # Ray Train's, holding the controller
    running = False
    watcher.join()
    assert signal.getsignal(signal.SIGINT) is previous
    assert seen, "no controller process seen"
    assert not _still_running(seen, timeout=30), seen


def _still_running(pids: Iterable[int], *, timeout: float) -> list[int]:
    """Those of `pids` whose process still runs after waiting up to `timeout` s for all to end."""
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def _serve(workspace: Path, port: int) -> subprocess.Popen[str]:
    """`raysight serve` on `port`; its output goes to serve.log beside the workspace (shown if it fails)."""
    env = {**os.environ, "RAYSIGHT_WORKSPACE": str(workspace), "RAYSIGHT_PORT": str(port),
           "RAYSIGHT_PLUGINS": "resnet", "RAYSIGHT_TRAIN_CPUS_PER_WORKER": "1"}
    env.pop("RAY_ADDRESS", None)
    with (workspace.parent / "serve.log").open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "raysight.cli", "serve", "--no-dashboard"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def _up(port: int, proc: subprocess.Popen[str], workspace: Path) -> httpx.Client:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    output = (workspace.parent / "serve.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"raysight serve did not come up (exit {proc.poll()}):\n{output}")


def _poll(http: httpx.Client, job_id: str, pred: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/train/jobs/{job_id}").json()
        if pred(job):
            return job
        time.sleep(0.5)
    raise AssertionError(f"timed out: {http.get(f'/train/jobs/{job_id}').json()}")


def test_sigkill_of_the_server_then_restart_and_resume(tmp_path: Path) -> None:
    """A real `raysight serve` (its own Ray cluster) is SIGKILLed mid-training; after a restart the job
    is 'stopped' with error "interrupted: server restarted", and resume continues its epochs."""
    workspace = tmp_path / "ws"
    archive = write_classify_zip(tmp_path / "cls.zip", 24, size=64)
    port = _free_port()
    proc = _serve(workspace, port)
    try:
        http = _up(port, proc, workspace)
        ds = http.post("/datasets/upload", files={"file": (archive.name, archive.read_bytes(), "application/zip")})
        ds_id = ds.json()["dataset_id"]
        assert http.post(f"/datasets/{ds_id}/prepare", json={}).status_code == 200
        r = http.post("/train/jobs", json={"dataset_id": ds_id, "model_name": "resnet18", "epochs": 40, "imgsz": 64,
                                           "batch": 16})
        assert r.status_code == 200 and r.json()["status"] == "running", r.text
        job_id = r.json()["job_id"]
        job = _poll(http, job_id, lambda j: (j["checkpoint_epoch"] or 0) >= 3 or ended(j))  # >= 2 registered
        assert job["status"] == "running", job
        proc.kill()  # SIGKILL: no shutdown code runs
        proc.wait(timeout=30)
        time.sleep(3)
        log_file = workspace / "jobs" / f"{job_id}.log"
        size = log_file.stat().st_size
        time.sleep(4)
        assert log_file.stat().st_size == size, "training went on after the server was killed"

        port = _free_port()
        proc = _serve(workspace, port)
        http = _up(port, proc, workspace)
        job = http.get(f"/train/jobs/{job_id}").json()
        # normally the restart marks it ("interrupted: server restarted"); a supervisor that outlives the
        # server by its grace period records the Ray error as an interruption itself
        assert job["status"] == "stopped" and job["error"].startswith("interrupted: "), job
        kept = job["checkpoint_epoch"]
        assert kept is not None and kept >= 2
        r = http.post(f"/train/jobs/{job_id}/resume")
        assert r.status_code == 200 and r.json()["status"] == "running", r.text
        job = _poll(http, job_id, ended, timeout=400)
        assert job["status"] == "completed", job
        assert [h["epoch"] for h in job["history"]] == list(range(1, 41))
        lines = http.get("/logs/lines", params={"job_id": job_id, "n": 0}).json()["lines"]
        assert any(f"Resuming from the checkpoint of epoch {kept}" in ln for ln in lines)
        assert any("Interrupted: " in ln for ln in lines)
        assert http.get(f"/models/{job['model_id']}").json()["metrics"]["accuracy"] >= 0.8
        # the SSE stream of a finished job returns the whole log and ends
        with http.stream("GET", "/logs/stream", params={"job_id": job_id}) as s:
            events = [ln for ln in s.iter_lines() if ln]
        assert len(events) == len(lines) and all(e.startswith("data: [") for e in events)
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_local_clusters_log_monitor_runs_with_raysights_settings(ray_cluster: None) -> None:
    """apply_process_env, run before Ray starts (as `raysight serve` does), reaches Ray's own log monitor
    (raysight.settings.LOG_MONITOR: it looks for new worker log files every 2 s, not ten times a second)."""
    from ray._private.worker import _global_node

    session = _global_node.get_session_dir_path().encode()
    monitors = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"log_monitor.py" in cmdline and session in cmdline:
                monitors.append((proc / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
    assert len(monitors) == 1, len(monitors)
    assert b"RAY_LOG_MONITOR_MANY_FILES_THRESHOLD=0" in monitors[0] and b"LOG_NAME_UPDATE_INTERVAL_S=2" in monitors[0]


def test_release_removes_the_recorded_placement_groups_still_up(ray_cluster: None, tmp_path: Path) -> None:
    """What the supervisor does when a run has ended, and for the runs a fresh supervisor finds interrupted:
    the groups a run's controller recorded (placement_groups.PlacementGroupRecord) and left up are removed."""
    from ray.util.placement_group import placement_group, remove_placement_group

    left, ended_in_order = placement_group([{"CPU": 0.01}]), placement_group([{"CPU": 0.01}])
    ray.get([left.ready(), ended_in_order.ready()], timeout=60)
    remove_placement_group(ended_in_order)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    placement_groups.record_path(job_dir).write_text(f"{left.id.hex()}\n{ended_in_order.id.hex()}\n")
    assert left.id.hex() in _groups_up()
    assert placement_groups.release(job_dir) == 1
    assert left.id.hex() not in _groups_up() and not placement_groups.record_path(job_dir).exists()
    assert placement_groups.release(job_dir) == 0  # nothing recorded
