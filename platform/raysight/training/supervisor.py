"""The job supervisor: one detached, named Ray actor per workspace that queues jobs, starts their runs,
stops them, records progress, appends worker log lines to the job logs, and registers the models of
finished runs.

- Queue: a job starts when fewer than settings.max_concurrent_jobs run and the cluster has the CPUs /
  GPUs its workers need; otherwise it stays `queued` (its `queue_reason` says what it waits for) and
  starts by itself when room frees. A job that does not fit never blocks the jobs queued behind it; a
  job that needs more than the whole cluster has fails at once, unless it is a resume: then the node
  it ran on left, and it waits for one to join (training.placement).
- Run: `runner.run_job` is a Ray task owned by this actor; it runs TorchTrainer.fit(). The job completes
  (its model registered) when the chief worker says its final checkpoint is stored (`finished`), about a
  second before fit() returns; the end of fit() then frees the job's slot and cleans up.
- Stop: `ray.cancel` on that task (fit() aborts the run gracefully, checkpoints stay); forced after
  settings.train_stop_timeout_s.
- Liveness: the actor is detached, so it outlives an ingress replica. A new ingress asks it which
  jobs it holds (`active`); a job the record calls running that no supervisor holds was interrupted.
  A supervisor that starts fresh (new cluster) reconciles at once: such jobs become `stopped` with
  error "interrupted: server restarted"; queued jobs are queued again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysight import joblog, metrics, ray_metrics, train_storage
from raysight.context import Platform
from raysight.errors import RaysightError, public_message
from raysight.ports import COMPLETED, INTERRUPTED, QUEUED, RUNNING, STOPPED, JobRecordsFactory
from raysight.settings import Settings
from raysight.training import placement, placement_groups, warm_processes
from raysight.training.ray_errors import INTERRUPT_GRACE_S, is_interruption, reason
from raysight.training.runner import needed_resources, run_job, warm_up
from raysight.training.worker import clear_scratch_root

log = logging.getLogger(__name__)
NAMESPACE = "raysight"
POLL_S = 0.5
TOP_UP_S = 10.0  # how often an idle supervisor checks the processes started ahead for the next run


def here() -> NodeAffinitySchedulingStrategy:
    """Runs on this (the supervisor's, i.e. the platform's) node. A run's fit() and the Ray Train controller
    it attaches to its own node must not sit on a worker node: losing that node would lose the run's driver
    with its workers, and the end of the run would never reach this supervisor (seen on a real multi-node
    cluster); here a lost worker node loses only Train workers, which Ray Train reports (or replaces)."""
    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


def supervisor_name(settings: Settings) -> str:
    """One supervisor per workspace and database (several platforms may share a cluster)."""
    key = f"{settings.workspace_dir}|{settings.db_url}".encode()
    return f"raysight-train-{hashlib.sha1(key).hexdigest()[:12]}"


class TrainSupervisor:
    """`records` builds the domain's record-keeping (raysight.ports.JobRecords) on this actor's Platform."""

    def __init__(self, settings_args: dict[str, Any], records: JobRecordsFactory) -> None:
        self.settings_args = dict(settings_args)
        self.settings = Settings.from_args(settings_args)
        self.ctx = Platform.create(self.settings, migrate=False)
        self.records = records(self.ctx)
        self.name = supervisor_name(self.settings)
        self.lock = threading.RLock()
        self.queue: list[str] = []
        self.running: dict[str, ray.ObjectRef] = {}
        self.stopping: set[str] = set()
        self.errors: dict[str, str] = {}
        self.reasons: dict[str, str] = {}  # queued job -> why it waits
        self.started_at: dict[str, tuple[float, int]] = {}  # job -> (monotonic start, first epoch)
        self.ended: dict[str, threading.Event] = {}  # set once a run's end is recorded
        ray_metrics.install()
        self.metrics = metrics.recorder()
        self.families: dict[str, str] = {}  # job -> plugin (the metrics' family tag)
        self.last_epoch_at: dict[str, float] = {}  # job -> monotonic time of its last reported epoch
        self.output_dirs: dict[str, str] = {}  # job -> its workers' scratch folder (cleaned when a run ends)
        self.forced: set[str] = set()  # jobs whose run was cancelled by force (its processes may linger)
        self.completed: set[str] = set()  # jobs registered from their final report while fit() winds down
        self.reconcile()
        # a ready worker process (on this node, where runs start) for the first run
        self._warm = None if self.running else warm_up.options(scheduling_strategy=here()).remote()
        self._next_top_up = 0.0  # the watcher's first idle round starts them
        threading.Thread(target=self._watch, name="train-supervisor", daemon=True).start()

    # -- queries --------------------------------------------------------------------------------------
    def ping(self) -> str:
        return self.name

    def warmed(self, timeout: float = 60.0) -> bool:
        """Wait until the warm-up worker is ready (benchmarks: time jobs on a platform that is up)."""
        if self._warm is None:
            return True
        ready, _ = ray.wait([self._warm], timeout=timeout)
        return bool(ready)

    def active(self) -> dict[str, list[str]]:
        with self.lock:
            return {"running": sorted(self.running), "queued": list(self.queue)}

    # -- queue -----------------------------------------------------------------------------------------
    def reconcile(self) -> dict[str, int]:
        """Bring the records in line with what this supervisor holds (at its start and when a new
        ingress starts): running-but-not-held jobs were interrupted; queued ones wait here again."""
        interrupted = requeued = 0
        with self.lock:
            for job_id, status in self.records.active():
                if job_id in self.running or job_id in self.queue:
                    continue
                if status == RUNNING:
                    self._release_placement_groups(job_id)
                    self.records.mark_stopped(job_id, error=INTERRUPTED)
                    self.records.log(job_id, "Interrupted: the server restarted while this job ran; "
                                           "resume it to continue from its last checkpoint")
                    interrupted += 1
                else:
                    self.queue.append(job_id)
                    requeued += 1
        self._schedule()
        return {"interrupted": interrupted, "requeued": requeued}

    def submit(self, job_id: str) -> str:
        with self.lock:
            if job_id not in self.running and job_id not in self.queue:
                self.queue.append(job_id)
        self._schedule()
        with self.lock:
            if job_id in self.running:
                return RUNNING
            if job_id in self.queue:
                return QUEUED
        return str(self.records.get(job_id)["status"])  # failed at once (cannot fit)

    def queue_reasons(self) -> dict[str, str]:
        """Why each queued job waits (job id -> a sentence naming the job slot or the resource)."""
        with self.lock:
            return {job_id: self.reasons.get(job_id, "waiting for the scheduler") for job_id in self.queue}

    def _schedule(self) -> None:
        """Start queued jobs in order while there is room. A job that cannot fit now waits without
        blocking the ones behind it; one that needs more than the whole cluster has fails at once."""
        with self.lock:
            if self.queue:  # the watcher calls this twice a second: no cluster query for an empty queue
                self._start_what_fits()
            self.metrics.set("raysight_training_queue_length", len(self.queue))
            self.metrics.set("raysight_training_jobs_running", len(self.running))

    def _start_what_fits(self) -> None:
        slots = max(1, self.settings.max_concurrent_jobs)
        total = ray.cluster_resources()
        free = dict(ray.available_resources())  # less what this pass starts (Ray sees it only later)
        for job_id in list(self.queue):
            try:
                spec = self.records.spec(job_id)
            except RaysightError as exc:  # dataset or base model gone meanwhile
                self._drop(job_id, exc.message)
                continue
            need = needed_resources(self.settings, int(spec["num_workers"]))
            fit = placement.check(need, total=total, free=free, workers=int(spec["num_workers"]),
                                  resumed=bool(spec.get("resumed")))
            if fit.impossible:
                self._drop(job_id, str(fit.reason))
            elif len(self.running) >= slots:
                self._wait(job_id, f"waiting for a free job slot: {len(self.running)} of {slots} allowed "
                                   "job(s) running (RAYSIGHT_MAX_CONCURRENT_JOBS)")
            elif fit.reason:
                self._wait(job_id, fit.reason)
            else:
                self.queue.remove(job_id)
                self.reasons.pop(job_id, None)
                self._start(job_id, spec)
                for name, amount in need.items():
                    free[name] = free.get(name, 0.0) - amount

    def _wait(self, job_id: str, reason: str) -> None:
        """Record why a queued job waits; its log says so once per stay in the queue."""
        if job_id not in self.reasons:
            self.records.log(job_id, f"Queued: {reason}")
        self.reasons[job_id] = reason

    def _drop(self, job_id: str, error: str) -> None:
        self.queue.remove(job_id)
        self.reasons.pop(job_id, None)
        self.records.fail(job_id, error)

    def _start(self, job_id: str, spec: dict[str, Any]) -> None:
        backend = self.ctx.plugins.backend(spec["plugin"])
        spec["fn"] = backend.train_loop()
        spec["ctx"].update(supervisor=self.name, namespace=NAMESPACE)
        self.errors.pop(job_id, None)
        self.stopping.discard(job_id)
        self.running[job_id] = run_job.options(scheduling_strategy=here()).remote(spec, self.settings_args)
        self.ended[job_id] = threading.Event()
        self.started_at[job_id] = (time.monotonic(), -1)
        self.families[job_id] = str(spec["plugin"])
        self.last_epoch_at[job_id] = time.monotonic()
        self.output_dirs[job_id] = str(spec["ctx"]["output_dir"])
        self.records.mark_running(job_id)
        self.records.log(job_id, f"Running: {spec['num_workers']} Ray Train worker(s)")

    # -- stop -----------------------------------------------------------------------------------------
    def stop(self, job_id: str) -> str:
        """Stop a queued or running job; returns when its run has ended (a job already completed from its final
        report is not cancelled: this waits for its run to end)."""
        with self.lock:
            if job_id in self.queue:
                self.queue.remove(job_id)
                self.reasons.pop(job_id, None)
                self.records.mark_stopped(job_id)
                self.records.log(job_id, "Stopped before it started")
                return STOPPED
            ref = self.running.get(job_id)
            if ref is None:
                return "unknown"
            ended = self.ended[job_id]
            completed = job_id in self.completed
            if not completed:
                self.stopping.add(job_id)
        if completed:  # registered from its final report: fit() ends by itself, within seconds
            ended.wait(timeout=self.settings.train_stop_timeout_s + 60)
            return COMPLETED
        ray.cancel(ref)
        ready, _ = ray.wait([ref], timeout=self.settings.train_stop_timeout_s)
        if not ready:
            self.forced.add(job_id)
            ray.cancel(ref, force=True)
            ray.wait([ref], timeout=30)
        self._finalize(job_id)
        ended.wait(timeout=60)  # the watcher may be the one recording the end
        return STOPPED

    # -- calls from the workers --------------------------------------------------------------------------
    def append_log(self, job_id: str, lines: list[str]) -> None:
        joblog.append(self.ctx.workspace.job_log(job_id), lines)

    def note_error(self, job_id: str, message: str) -> None:
        self.errors[job_id] = message

    def resumed(self, job_id: str, epoch: int, metrics: dict[str, Any] | None = None) -> None:
        with self.lock:
            if job_id in self.running:
                self.started_at[job_id] = (time.monotonic(), epoch)
                self.records.record_resumed(job_id, epoch=epoch, metrics=metrics)

    def progress(self, job_id: str, epoch: int, metrics: dict[str, Any], checkpointed: bool,
                 lines: list[str] | None = None) -> None:
        """End of an epoch: the worker's log lines since its last call (written first), then the record."""
        if lines:
            self.append_log(job_id, lines)
        with self.lock:
            if job_id not in self.running or job_id in self.stopping:
                return
            job = self.records.get(job_id)
            start, first = self.started_at.get(job_id, (time.monotonic(), 0))
            if first < 0:  # a fresh run: epochs counted from 0
                first = 0
                self.started_at[job_id] = (start, first)
            done = max(1, epoch - first)
            now = time.monotonic()
            family = self.families.get(job_id, "unknown")
            self.metrics.inc("raysight_training_epochs_total", family=family)
            self.metrics.observe("raysight_training_epoch_seconds", now - self.last_epoch_at.get(job_id, start),
                                 family=family)
            self.last_epoch_at[job_id] = now
            eta = (time.monotonic() - start) / done * max(0, job["epochs"] - epoch)
            self.records.record_epoch(job_id, epoch=epoch, metrics=metrics, checkpointed=checkpointed,
                                      eta_s=round(eta, 1))

    def finished(self, job_id: str, checkpoint: str) -> None:
        """The chief's final report is persisted in `checkpoint` (a local folder): register the model and
        complete the job now. fit() still takes about a second to end Ray Train's worker group, controller
        and placement group; the job's resources free (and the queue moves) only when it returns. A job
        being stopped is left to the stop."""
        with self.lock:
            if job_id not in self.running or job_id in self.stopping or job_id in self.completed:
                return
            self.completed.add(job_id)
            self._complete(job_id, checkpoint)

    # -- completion ---------------------------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            try:
                with self.lock:
                    refs = dict(self.running)
                if refs:
                    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=POLL_S)
                    for job_id, ref in refs.items():
                        if ref in ready:
                            self._finalize(job_id)
                else:
                    time.sleep(POLL_S)
                    self._top_up_when_due()
                self._schedule()
            except Exception:  # the watcher must survive anything
                log.exception("training supervisor loop")
                time.sleep(POLL_S)

    def _finalize(self, job_id: str) -> None:
        """Record the end of a run (once: whoever pops the job does it)."""
        with self.lock:
            ref = self.running.pop(job_id, None)
            stopped = job_id in self.stopping
            self.stopping.discard(job_id)
            self.started_at.pop(job_id, None)
            self.families.pop(job_id, None)
            self.last_epoch_at.pop(job_id, None)
            output_dir = self.output_dirs.pop(job_id, None)
            forced = job_id in self.forced
            self.forced.discard(job_id)
            completed = job_id in self.completed
            self.completed.discard(job_id)
            ended = self.ended.pop(job_id, None)
        if ref is None:
            return
        self._release_placement_groups(job_id)  # what a dead controller left: the queue needs those resources
        try:
            if completed:  # recorded from the final report: an error of the run's end changes nothing
                self._log_late_error(job_id, ref)
            else:
                self._record_end(job_id, ref, stopped)
            self._count_end(job_id)
            self._clean_up(job_id, output_dir, forced=forced)
        finally:
            if ended is not None:
                ended.set()
            # the run used up the processes started before it: the watcher's next idle round tops them up;
            # a queued job that starts now starts its own (beside it they would take the cores its start needs)
            self._next_top_up = 0.0
            self._schedule()

    def start_processes_ahead(self) -> int:
        """The next run's controller and Train worker processes, started while nothing waits for them
        (training.warm_processes; this actor's runtime environment is that of the runs it starts): how
        many were missing and asked for."""
        asked = warm_processes.prestart(self.settings.train_warm_keep_s)
        if asked:
            log.info("started %d process(es) ahead for the next training run", asked)
        return asked

    def _top_up_when_due(self) -> None:
        """While no run runs: at once after a run ended, else every TOP_UP_S (the raylet may have skipped a
        start while too many processes were starting, or ended one past its keep-alive)."""
        if time.monotonic() >= self._next_top_up:
            self._next_top_up = time.monotonic() + TOP_UP_S
            self.start_processes_ahead()

    def processes_ahead(self) -> tuple[int, int]:
        """(controller's, Train worker's) processes waiting for the next run on this node."""
        return warm_processes.ready()

    def _release_placement_groups(self, job_id: str) -> None:
        removed = placement_groups.release(self.ctx.workspace.job_dir(job_id))
        if removed:
            log.info("job %s: removed %d placement group(s) its run left", job_id, removed)

    @staticmethod
    def _log_late_error(job_id: str, ref: ray.ObjectRef) -> None:
        try:
            ray.get(ref, timeout=60)
        except Exception as exc:
            log.warning("job %s: its run failed after the model was registered: %s", job_id, reason(exc))

    def _clean_up(self, job_id: str, output_dir: str | None, *, forced: bool) -> None:
        """Disk after a run: the temporary checkpoint folders a stopped or killed worker could not remove, and
        checkpoint folders Ray Train never registered (num_to_keep bounds only the registered ones). The latter
        only after a run that ended in order (completed, or stopped without force): after a crash or a forced
        cancel, Ray Train's controller may still register a checkpoint it was handed."""
        try:
            if output_dir:
                clear_scratch_root(output_dir)
            try:
                job = self.records.get(job_id)
            except RaysightError:  # deleted meanwhile (its folder goes with it)
                return
            if forced or job["status"] not in ("completed", STOPPED) or job.get("error"):
                return
            removed = train_storage.prune_unregistered(self.ctx.workspace.job_dir(job_id))
            if removed:
                log.info("job %s: removed %d unregistered checkpoint folder(s)", job_id, len(removed))
        except Exception:  # never let disk clean-up fail the end of a run
            log.exception("cleaning up after job %s", job_id)

    def _count_end(self, job_id: str) -> None:
        try:
            outcome = str(self.records.get(job_id)["status"])
        except RaysightError:  # deleted meanwhile
            outcome = "deleted"
        self.metrics.inc("raysight_training_jobs_ended_total", outcome=outcome)

    def _record_end(self, job_id: str, ref: ray.ObjectRef, stopped: bool) -> None:
        try:
            out = ray.get(ref, timeout=60)
        except Exception as exc:
            if stopped:
                self.records.mark_stopped(job_id)
                epoch = self.records.get(job_id)["checkpoint_epoch"]
                self.records.log(job_id, f"Stopped; the checkpoint of epoch {epoch} is kept for resume"
                         if epoch else "Stopped before its first checkpoint")
            else:
                self._record_failure(job_id, exc)
            return
        self._complete(job_id, out.get("checkpoint"))

    def _complete(self, job_id: str, checkpoint: str | None) -> None:
        try:
            if not checkpoint:
                raise RuntimeError("the run ended without a final checkpoint")
            self.records.complete(job_id, checkpoint)
        except Exception as exc:
            log.exception("registering the model of %s", job_id)
            message = public_message(exc)
            self.records.fail(job_id, f"registering the model failed: {message}")

    def _record_failure(self, job_id: str, exc: BaseException) -> None:
        """A run that ends because the cluster itself goes down (the server process was killed) must not be
        recorded as failed by this supervisor, which is about to die with it: wait a moment first, so that the
        record stays 'running' and the next start marks it interrupted. A run whose Ray worker or node died
        while the cluster lives on was interrupted too (stopped, resumable); any other error fails the job."""
        time.sleep(INTERRUPT_GRACE_S)
        if is_interruption(exc):
            self.records.mark_stopped(job_id, error=f"interrupted: {reason(exc)}"[:2000])
            self.records.log(job_id, f"Interrupted: {reason(exc)}; resume it to continue from its last checkpoint")
            return
        self.records.fail(job_id, self.errors.pop(job_id, None) or reason(exc))





RemoteSupervisor = ray.remote(num_cpus=0, max_concurrency=64, max_restarts=0)(TrainSupervisor)
