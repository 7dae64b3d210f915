"""Benchmark: the same YOLO job through the platform (services + Ray Train, cluster already up) and
through ultralytics' own `model.train` in this environment. Prints both wall times, the overhead
(platform - plain, goal <= 5 s), the ratio (goal <= 1.05 at a ~3-minute job: --epochs 135), and the
overhead split into a fixed part (job created -> first epoch done, minus plain's first epoch) and a
per-epoch part (mean epoch time after the first, platform minus plain).

    python bench/training.py [--epochs 45] [--images 64] [--imgsz 128] [--batch 8] [--long] [--runs 1]
                             [--no-defaults] [--no-bracket] [--ray-idle N]

45 epochs make the plain run about a minute on 2 CPU cores (the size the goal is stated for); --long
runs the ~3-minute job (135 epochs) the ratio goal is stated for. The platform time runs from the
create_job request to the job's `completed` status with its model registered, as a client polling the
record sees it (Ray Train start-up, per-epoch checkpoints and the registration included); the plain
time is YOLO(...).train() in this process (ultralytics imported before the clock starts), on the torch
threads the platform's worker uses (the job's CPUs, where ultralytics alone would take fewer); a second
plain run on ultralytics' own threads (min(8, cores - 1)), what a user calling model.train gets, gives
the platform's ratio against that too (--no-defaults skips it). --runs N
repeats the platform job on the same warm platform (the first job after a start and later ones).
The plain run (on the platform's threads) is repeated after the platform jobs, with Ray stopped: a shared
2-core VM drifts by 10-25 % in CPU speed over minutes (the same plain epoch measured 1.16-1.58 s within
one hour here), so the platform is compared with the mean of the plain runs before and after it, and both
are printed (--no-bracket keeps the one before). Each platform job also prints its train worker's CPU
seconds per epoch against plain's (more CPU for the same work, or less CPU to work with?) and the CPU
every other process of the machine used while its epochs ran (% of one core each: Ray's GCS, raylet and
agents, the run's controller, the supervisor, this bench polling the record): what a job that trains on
every core shares them with. The temporary workspace is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import procstat  # noqa: E402
from raysight.settings import Settings, apply_process_env, ray_env  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=None, help="45 by default, 135 with --long")
    p.add_argument("--long", action="store_true", help="the ~3-minute job (135 epochs unless --epochs)")
    p.add_argument("--runs", type=int, default=1, help="platform jobs in a row on the same warm platform")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace (job logs) and say where")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the one training worker (and of torch in plain)")
    p.add_argument("--no-defaults", dest="defaults", action="store_false",
                   help="skip the second plain run, on ultralytics' own torch threads")
    p.add_argument("--no-bracket", dest="bracket", action="store_false",
                   help="no plain run after the platform jobs (compare with the one before only)")
    p.add_argument("--ray-idle", type=int, default=0, metavar="N",
                   help="one more plain run, on the cluster beside N idle Ray actors (a run's controller, "
                        "synchronization actor, fit() task, supervisor, autoscaling coordinator: 5), before the "
                        "plain run after: what Ray's processes alone cost a job that trains on every core")
    ns = p.parse_args()
    ns.epochs = ns.epochs or (135 if ns.long else 45)
    apply_process_env()
    root = Path(tempfile.mkdtemp(prefix="raysight_bench_"))
    try:
        return run(ns, root)
    finally:
        if ns.keep:
            print(f"workspace kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def run(ns: argparse.Namespace, root: Path) -> int:
    """Plain ultralytics, then the same job through the platform `ns.runs` times; prints the comparison."""
    import ray

    from raysight.context import Platform
    from raysight.runtime import attach_trainer
    from raysight.services import datasets
    from tests.datagen import reader_over, write_yolo_zip

    ctx = Platform.create(Settings(workspace=root / "ws", train_cpus_per_worker=ns.cpus))
    archive = write_yolo_zip(root / "shapes.zip", ns.images, size=ns.imgsz)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    data_yaml = datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])["data_yaml"]
    params = {"plots": False, "nbs": ns.batch, "warmup_epochs": 1, "mosaic": 0.0, "workers": 0}

    # plain ultralytics, same options (amp off, no plots, same project layout): on the platform's threads,
    # then (unless --no-defaults) on ultralytics' own, as a user calling model.train gets it
    before = plain_train(ns, data_yaml, params, root / "plain", same_threads=True)
    defaults = plain_train(ns, data_yaml, params, root / "defaults", same_threads=False) if ns.defaults else None

    ray.init(num_cpus=ns.cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": ray_env()})
    client = attach_trainer(ctx)
    ray.get(client.actor().warmed.remote())  # a platform that is up and idle when the job arrives
    jobs = [platform_job(ctx, ds["dataset_id"], ns, params) for _ in range(max(1, ns.runs))]
    floor = ray_train_floor(ns, root)
    beside = plain_beside_idle_actors(ns, data_yaml, params, root / "plain_beside") if ns.ray_idle else None
    ray.shutdown()
    after = plain_train(ns, data_yaml, params, root / "plain_after", same_threads=True) if ns.bracket else None
    ctx.close()

    print(f"YOLO {ns.epochs} epochs, {ns.images} images at {ns.imgsz}px, batch {ns.batch}, {ns.cpus} CPUs "
          f"({before.threads} torch threads in both)")
    plain = before if after is None else PlainRun.mean(before, after)
    if after is None:
        print(f"ultralytics model.train : {plain.wall:7.1f} s  (mAP50 {plain.map50:.3f})")
    else:
        print(f"ultralytics model.train : {plain.wall:7.1f} s  (mAP50 {before.map50:.3f}; the mean of "
              f"{before.wall:.1f} s before the platform and {after.wall:.1f} s after it, "
              f"{100 * (after.wall / before.wall - 1):+.1f} %; per epoch {before.per_epoch:.2f} s / "
              f"{after.per_epoch:.2f} s)")
    if defaults is not None:
        print(f"  ... on its own threads : {defaults.wall:7.1f} s  (mAP50 {defaults.map50:.3f}, {defaults.threads} "
              "torch thread(s): min(8, cores - 1)); the platform's ratios against it follow each run")
    for attempt, job in enumerate(jobs, 1):
        report(job, plain, label=f"run {attempt}/{len(jobs)}")
        if defaults is not None:
            print(f"against ultralytics' own threads: ratio {job.wall / defaults.wall:.2f}, "
                  f"difference {job.wall - defaults.wall:+.1f} s")
    print(floor)
    if beside is not None and after is not None:
        cost = 100 * (beside.per_epoch / after.per_epoch - 1)
        print(f"plain beside {ns.ray_idle} idle Ray actors: {beside.wall:6.1f} s, per epoch {beside.per_epoch:.2f} s "
              f"against {after.per_epoch:.2f} s with Ray stopped right after ({cost:+.1f} %): each Ray worker "
              "process wakes its main thread every 10 ms, which a job on every core pays")
    return 0


def plain_beside_idle_actors(ns: argparse.Namespace, data_yaml: str, params: dict[str, Any], project: Path) -> PlainRun:
    """The plain run in this process while `ns.ray_idle` idle Ray actors (no CPUs reserved) are up."""
    import ray

    @ray.remote(num_cpus=0)
    class Idle:
        def ready(self) -> bool:
            return True

    actors = [Idle.remote() for _ in range(ns.ray_idle)]
    ray.get([a.ready.remote() for a in actors])
    try:
        return plain_train(ns, data_yaml, params, project, same_threads=True)
    finally:
        for actor in actors:
            ray.kill(actor)


@dataclass
class PlainRun:
    """One plain model.train: wall s, mAP50, each epoch's end in s from the start, torch threads, and the
    process's CPU seconds (every thread) at each epoch's end."""

    wall: float
    map50: float
    epochs: list[float]
    threads: int
    cpu: list[float] = field(default_factory=list)

    @property
    def first(self) -> float:
        return self.epochs[0] if self.epochs else float("nan")

    @property
    def per_epoch(self) -> float:
        e = self.epochs
        return (e[-1] - e[0]) / (len(e) - 1) if len(e) >= 2 else float("nan")

    @property
    def cpu_per_epoch(self) -> float:
        c = self.cpu
        return (c[-1] - c[0]) / (len(c) - 1) if len(c) >= 2 else float("nan")

    @staticmethod
    def mean(a: PlainRun, b: PlainRun) -> PlainRun:
        """The run halfway between `a` and `b` (epoch ends averaged where both have them)."""
        ends = [(x + y) / 2 for x, y in zip(a.epochs, b.epochs, strict=False)]
        cpu = [(x + y) / 2 for x, y in zip(a.cpu, b.cpu, strict=False)]
        return PlainRun((a.wall + b.wall) / 2, (a.map50 + b.map50) / 2, ends, a.threads, cpu)


def plain_train(ns: argparse.Namespace, data_yaml: str, params: dict[str, Any], project: Path, *,
                same_threads: bool) -> PlainRun:
    """YOLO(...).train() in this process.
    `same_threads`: the platform's rule (ultralytics' choice, or the job's CPUs where more), else ultralytics'."""
    import torch
    from ultralytics import YOLO

    started = time.monotonic()
    model = YOLO("yolov8n.yaml")
    epochs: list[float] = []
    cpu: list[float] = []
    threads: list[int] = []

    def on_start(_trainer: Any) -> None:
        if same_threads:
            torch.set_num_threads(max(torch.get_num_threads(), ns.cpus))
        threads.append(torch.get_num_threads())

    model.add_callback("on_pretrain_routine_start", on_start)

    def on_epoch_end(_trainer: Any) -> None:
        epochs.append(time.monotonic() - started)
        cpu.append(time.process_time())

    model.add_callback("on_fit_epoch_end", on_epoch_end)
    model.train(data=data_yaml, epochs=ns.epochs, imgsz=ns.imgsz, batch=ns.batch, device="cpu", amp=False,
                verbose=False, project=str(project), name="yolo", exist_ok=True, **params)
    wall = time.monotonic() - started
    return PlainRun(wall, float(model.trainer.metrics.get("metrics/mAP50(B)", 0.0)), epochs,
                    threads[0] if threads else -1, cpu)


def ray_train_floor(ns: argparse.Namespace, root: Path) -> str:
    """Ray Train alone on this cluster: a TorchTrainer with the platform's worker shape and an empty train
    loop (one report), fit() run in a Ray task like the platform's run. What any job on Ray Train pays on
    top of its training here, whoever drives it."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    def loop(config: dict[str, Any]) -> None:
        import ray.train

        Path(config["mark"]).write_text(str(time.time()))
        ray.train.report({"done": 1})
        Path(config["mark"]).with_suffix(".end").write_text(str(time.time()))

    @ray.remote(num_cpus=0)
    def fit(mark: str, name: str) -> tuple[float, float]:
        begun = time.time()
        TorchTrainer(loop, train_loop_config={"mark": mark},
                     scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": float(ns.cpus)}),
                     run_config=RunConfig(name=name, storage_path=str(root / "floor"))).fit()
        return begun, time.time()

    figures = []
    for attempt in range(2):
        mark = root / f"floor_{attempt}.start"
        begun, ended = ray.get(fit.remote(str(mark), f"floor_{attempt}"))
        loop_at, loop_end = float(mark.read_text()), float(mark.with_suffix(".end").read_text())
        figures.append((loop_at - begun, ended - loop_end))
    start, end = min(figures, key=sum)
    return (f"Ray Train alone         : train loop starts {start:5.1f} s after fit(), fit() returns {end:4.1f} s after "
            f"it ends -> {start + end:4.1f} s per run (TorchTrainer, empty loop, same worker; best of 2)")


@dataclass
class PlatformJob:
    """One job through the services as a client polling its record sees it."""

    wall: float
    map50: float
    submitted: float  # create_job's answer, s
    loop_started: float | None  # the worker's "Starting training" line in the job log, s from create_job
    epochs: list[tuple[int, float]] = field(default_factory=list)  # (epoch, first seen at, s from create_job)
    overhead_line: str = ""
    # CPU of every process of the machine from epoch 2 seen to the last epoch seen: (name#pid, % of one core)
    cpu: list[tuple[str, float]] = field(default_factory=list)
    cpu_window: tuple[int, float] = (0, 0.0)  # (first epoch of the window, its length in s)
    worker_start: str = ""  # the job log's word on the Train worker's process (started ahead, or for the run)


def platform_job(ctx: Any, dataset_id: str, ns: argparse.Namespace, params: dict[str, Any]) -> PlatformJob:
    """One job through the services, timed as a client polling its record sees it."""
    from raysight.services import models, training

    started = time.monotonic()
    job_id = training.create_job(ctx=ctx, dataset_id=dataset_id, model_name="yolov8n.pt", epochs=ns.epochs,
                                 imgsz=ns.imgsz, batch=ns.batch, params=params)["job_id"]
    submitted = time.monotonic() - started
    seen: dict[int, float] = {}
    loop_started = None
    window: list[tuple[int, float, dict[int, float]]] = []  # CPU snapshots at epoch 2 and at the last epoch
    while (job := training.get_job(ctx=ctx, job_id=job_id))["status"] in ("queued", "running"):
        epoch = int(job["epoch"] or 0)
        seen.setdefault(epoch, time.monotonic() - started)
        if (epoch >= 2 and not window) or (epoch >= ns.epochs and len(window) == 1):
            window.append((epoch, time.monotonic(), procstat.snapshot()))
        if loop_started is None and "Starting training:" in Path(job["log_file"]).read_text():
            loop_started = time.monotonic() - started
        # a client polling 20 times a second costs the 2 cores about 1 %: fine-grained only where the
        # figures need it (start-up, first epoch, the end), every 0.25 s in between (+-0.25 s on 40+ epochs)
        time.sleep(0.05 if epoch <= 1 or epoch >= ns.epochs - 1 else 0.25)
    wall = time.monotonic() - started
    assert job["status"] == "completed", job
    log_lines = Path(job["log_file"]).read_text().splitlines()
    lines = [ln for ln in log_lines if "Platform overhead in" in ln]
    worker_start = next((ln.rsplit("; ", 1)[-1] for ln in log_lines if "Starting training: " in ln), "")
    if len(window) == 1:  # the record went from an earlier epoch to completed between two polls
        window.append((int(job["epoch"] or 0), time.monotonic(), procstat.snapshot()))
    cpu, cpu_window = [], (0, 0.0)
    if len(window) == 2:
        (first, t0, before), (_, t1, after) = window
        cpu, cpu_window = procstat.shares(before, after, t1 - t0), (first, t1 - t0)
    return PlatformJob(wall, float(models.get(ctx=ctx, model_id=job["model_id"])["metrics"].get("mAP50") or 0.0),
                       submitted, loop_started, sorted((e, t) for e, t in seen.items() if e >= 1),
                       lines[-1].split("] ", 1)[-1] if lines else "", cpu, cpu_window, worker_start)


def report(job: PlatformJob, plain: PlainRun, *, label: str) -> None:
    """The platform job's figures against the plain run."""
    print(f"-- platform {label}: create_job answered after {job.submitted:.2f} s")
    print(f"raysight (Ray Train job): {job.wall:7.1f} s  (mAP50 {job.map50:.3f})")
    print(f"ratio platform / plain  : {job.wall / plain.wall:7.2f}   (goal <= 1.05 at a ~3-minute job)")
    print(f"overhead platform-plain : {job.wall - plain.wall:7.1f} s  (goal <= 5 s)")
    done = job.epochs
    if len(done) >= 2:
        r_first = done[0][1]
        r_epoch = (done[-1][1] - done[0][1]) / (done[-1][0] - done[0][0])
        print(f"first epoch done after  : plain {plain.first:6.1f} s, platform {r_first:6.1f} s -> fixed start-up "
              f"{r_first - plain.first:5.1f} s")
        print(f"per epoch (after first) : plain {plain.per_epoch:6.2f} s, platform {r_epoch:6.2f} s -> "
              f"{r_epoch - plain.per_epoch:+.2f} s/epoch ({100 * (r_epoch / plain.per_epoch - 1):+.1f} %)")
        print(f"last epoch -> completed : {job.wall - done[-1][1]:6.1f} s (final validation, end of the run, "
              "registration)")
    if job.loop_started is not None:
        print(f"train loop started after: {job.loop_started:6.1f} s (controller, placement group, worker, imports; "
              f"{job.worker_start or 'the worker process unknown'})")
    if job.overhead_line:
        print(job.overhead_line)
    if job.cpu:
        print(cpu_beside(job, plain))


def cpu_beside(job: PlatformJob, plain: PlainRun) -> str:
    """Where the per-epoch part goes: the CPU the train worker spent per epoch against plain's, and what
    every other process of the machine used while the epochs ran (Ray's own processes, Ray Train's
    controller, the supervisor, this bench polling the job record)."""
    worker = sum(share for name, share in job.cpu if name.startswith("RayTrainWorker#"))
    others = [(name, share) for name, share in job.cpu if not name.startswith("RayTrainWorker#")]
    total = sum(share for _, share in others)
    cores = os.cpu_count() or 1
    first, seconds = job.cpu_window
    last = job.epochs[-1][0] if job.epochs else first
    per_epoch = worker / 100 * seconds / max(1, last - first)
    top = ", ".join(f"{name.split('#')[0]} {share:.1f}" for name, share in others[:12] if share >= 0.1)
    return (f"CPU per epoch           : plain {plain.cpu_per_epoch:6.2f} s, train worker {per_epoch:6.2f} s "
            f"(epochs {first}-{last}, {worker:.0f} % of one core)\n"
            f"CPU beside the worker   : {total:.1f} % of one core ({total / cores:.1f} % of the {cores} cores): {top}")


if __name__ == "__main__":
    sys.exit(main())
