"""What runs inside each Ray Train worker: `run_worker` (the TorchTrainer's train_loop_per_worker) and
`TrainSession`, the small API a plugin's train loop uses (plugins import it from raysight.plugin):

    session = TrainSession.for_config(config)      # config = TrainContext as a dict (+ "fn")
    c = session.ctx                                # the job: data, classes, epochs, imgsz, weights ...
    with session.restored() as (ckpt_dir, epoch):  # the last checkpoint of this job, if any
        ...
    session.rank, session.world_size, session.is_chief, session.use_gpu, session.device, session.cpu_threads
    model = session.prepare_model(net)             # DDP over the workers (Ray Train), on the device
    loader = session.prepare_data_loader(loader)   # each worker gets its share
    session.log("something happened")              # -> the job's log file, via the supervisor actor
    folder = session.scratch("epoch3")             # a temporary folder (removed by the platform)
    session.report(epoch, metrics, folder)         # ray.train.report + live progress in the job record
    return TrainResult(weights=..., metrics=...)   # on the chief: the model the registry records

Log lines and progress go to the job supervisor (a named Ray actor on the platform's node), so they
reach the job's log file and record even when this worker runs on another node. Lines are batched; an
epoch's progress call carries the lines logged since the last call and is not waited for: the next epoch
trains while the supervisor records it. At most one call is in flight (each waits for the one before),
so lines keep their order, and the next report waits for it before storing its checkpoint, so that the
record never misses an epoch whose successor's checkpoint exists. Ray is imported when a session needs
it, so that importing this module (and raysight.plugin) stays cheap in processes that never train.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from raysight import joblog
from raysight.backend import TrainContext
from raysight.errors import public_message
from raysight.train_result import TrainResult, write_final
from raysight.training import warm_processes

log = logging.getLogger(__name__)
META = "meta.json"
FLUSH_EVERY_S = 1.0


def clean_metrics(metrics: dict[str, Any]) -> dict[str, float | int | None]:
    """Plain JSON numbers (NaN/inf become None)."""
    out: dict[str, float | int | None] = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = round(number, 6) if math.isfinite(number) else None
    return out


class TrainSession:
    """Per worker process and job. Only rank 0 writes log lines, progress and checkpoints by default."""

    _sessions: ClassVar[dict[str, TrainSession]] = {}

    def __init__(self, config: dict[str, Any]) -> None:
        import ray.train

        fields = TrainContext.__dataclass_fields__
        self.ctx = TrainContext(**{k: v for k, v in config.items() if k in fields})
        self._scratch: list[Path] = []
        try:
            context = ray.train.get_context()
            self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        except Exception:  # outside Ray Train (a plugin test calling the loop directly)
            self.rank, self.world_size = 0, 1
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._actor: Any = None
        self._actor_looked_up = False
        self._pending: tuple[Any, list[str]] | None = None  # the call in flight and the log lines it carries
        self.started = time.monotonic()
        self.overhead_s = {"report": 0.0, "supervisor": 0.0}  # time the platform took from the train loop
        self.reports = 0

    @classmethod
    def for_config(cls, config: dict[str, Any]) -> TrainSession:
        job_id = str(config["job_id"])
        session = cls._sessions.get(job_id)
        if session is None:
            session = cls._sessions[job_id] = cls(config)
        return session

    @property
    def is_chief(self) -> bool:
        """Rank 0: the worker whose log lines, checkpoints and TrainResult count."""
        return self.rank == 0

    @property
    def use_gpu(self) -> bool:
        """Whether this job trains on GPUs (RAYSIGHT_TRAIN_USE_GPU)."""
        return bool(self.ctx.use_gpu)

    @property
    def cpu_threads(self) -> int:
        """The whole CPUs this worker holds (its Ray Train resources; at least 1): the threads its math may use."""
        import ray

        try:
            cpus = float(ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0))
        except Exception:  # outside Ray
            cpus = 0.0
        return max(1, int(cpus))

    @property
    def device(self) -> Any:
        """The torch device of this worker (its GPU, or the CPU)."""
        import torch

        if not self.use_gpu:
            return torch.device("cpu")
        from ray.train.torch import get_device

        return get_device()

    def prepare_model(self, model: Any) -> Any:
        """`model` on this worker's device, wrapped for data-parallel training when there are several
        workers (its plain module stays reachable as ``.module``)."""
        from ray.train.torch import prepare_model

        return prepare_model(model)

    def prepare_data_loader(self, loader: Any) -> Any:
        """A torch DataLoader that gives this worker its share of the data, on its device."""
        from ray.train.torch import prepare_data_loader

        return prepare_data_loader(loader)

    # -- the supervisor ------------------------------------------------------------------------------
    def _supervisor(self) -> Any:
        import ray

        if not self._actor_looked_up:
            self._actor_looked_up = True
            if self.ctx.supervisor:
                try:
                    self._actor = ray.get_actor(self.ctx.supervisor, namespace=self.ctx.namespace)
                except Exception as exc:
                    log.warning("job supervisor %s unreachable (%s): writing the log file directly",
                                self.ctx.supervisor, exc)
        return self._actor

    def _call(self, method: str, *args: Any) -> bool:
        """Call the supervisor and wait for the answer; False when it cannot be reached."""
        import ray

        self._settle()
        actor = self._supervisor()
        if actor is None:
            return False
        with self._supervisor_time():
            try:
                ray.get(getattr(actor, method).remote(self.ctx.job_id, *args), timeout=30)
                return True
            except Exception as exc:
                log.warning("job supervisor call %s failed: %s", method, exc)
                return False

    def _send_progress(self, epoch: int, values: dict[str, Any], checkpointed: bool) -> None:
        """The epoch's progress with the log lines buffered so far, not waited for (see _settle)."""
        self._settle()
        lines, self._buffer = self._buffer, []
        self._last_flush = time.monotonic()
        actor = self._supervisor()
        if actor is None:
            joblog.append(self.ctx.log_file, lines)
            return
        with self._supervisor_time():
            try:
                ref = actor.progress.remote(self.ctx.job_id, epoch, values, checkpointed, lines)
                self._pending = (ref, lines)
            except Exception as exc:
                self._progress_lost(lines, exc)

    def _settle(self) -> None:
        """Wait for the call in flight; its log lines go to the file directly when it failed."""
        if self._pending is None:
            return
        import ray

        (ref, lines), self._pending = self._pending, None
        with self._supervisor_time():
            try:
                ray.get(ref, timeout=30)
            except Exception as exc:
                self._progress_lost(lines, exc)

    @contextmanager
    def _supervisor_time(self) -> Iterator[None]:
        """Count what the block takes as the train loop's time in supervisor calls (overhead_s)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.overhead_s["supervisor"] += time.monotonic() - started

    def _progress_lost(self, lines: list[str], exc: Exception) -> None:
        """A progress call that failed: the lines it carried go to the log file directly."""
        log.warning("job supervisor call progress failed: %s", exc)
        joblog.append(self.ctx.log_file, lines)

    # -- logs -------------------------------------------------------------------------------------------
    def log(self, message: str, *, all_ranks: bool = False, flush: bool = False) -> None:
        if not (self.is_chief or all_ranks):
            return
        prefix = f"[rank {self.rank}] " if self.world_size > 1 and not self.is_chief else ""
        self._buffer.extend(joblog.stamp(prefix + message))
        if flush or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Send the buffered log lines (after the call in flight) and wait for them to be written."""
        self._settle()
        lines, self._buffer = self._buffer, []
        self._last_flush = time.monotonic()
        if lines and not self._call("append_log", lines):
            joblog.append(self.ctx.log_file, lines)  # single node / no supervisor: the file is local

    def note_error(self, message: str) -> None:
        self.log(f"ERROR: {message}", all_ranks=True, flush=True)
        if self.is_chief:
            self._call("note_error", message)

    # -- checkpoints ----------------------------------------------------------------------------------------
    @contextmanager
    def restored(self) -> Iterator[tuple[Path | None, int]]:
        """(folder of the job's last checkpoint, its epoch), or (None, 0) for a fresh start."""
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None, 0
            return
        with checkpoint.as_directory() as folder:
            path = Path(folder)
            meta = json.loads((path / META).read_text()) if (path / META).is_file() else {}
            epoch = int(meta.get("epoch", 0))
            if self.is_chief:  # the checkpoint's metrics: its epoch may be missing from the record
                self._call("resumed", epoch, meta.get("metrics") or {})
            self.log(f"Resuming from the checkpoint of epoch {epoch}", flush=True)
            yield path, epoch

    def report(self, epoch: int, metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
        """End of epoch `epoch` (1-based count of finished epochs). Every rank must call it; only the
        chief's `checkpoint_dir` is saved: a `scratch` folder is moved into the run's storage when that is a
        local folder (else copied, then removed); any other folder is copied and left as it is."""
        import ray.train

        started = time.monotonic()
        # the last epoch's progress is recorded before this epoch's checkpoint is stored: a server killed
        # after it leaves no gap in the history (the resume records the checkpoint's own epoch)
        self._settle()
        values = clean_metrics(metrics)
        checkpoint = None
        if checkpoint_dir is not None and self.is_chief:
            (Path(checkpoint_dir) / META).write_text(json.dumps({"epoch": epoch, "metrics": values}))
            checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir))
        ray.train.report({**values, "epoch": epoch}, checkpoint=checkpoint,
                         checkpoint_upload_fn=self._upload_for(checkpoint_dir))
        if self.is_chief:
            shown = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
            self.log(f"Epoch {epoch}/{self.ctx.epochs} {shown}")
            self._send_progress(epoch, values, checkpoint is not None)
        if checkpoint_dir is not None:
            self._discard_scratch(Path(checkpoint_dir))
        self.reports += 1
        self.overhead_s["report"] += time.monotonic() - started

    def overhead_line(self) -> str:
        """What the platform cost the train loop (the job log's last line of a run; bench/training.py reads it):
        the per-epoch reports (checkpoint hand-over, metrics, progress) and the supervisor calls (log lines,
        progress) in seconds. The supervisor calls made from a report count in both."""
        per = self.overhead_s["report"] / self.reports if self.reports else 0.0
        return (f"Platform overhead in the train loop: reports {self.overhead_s['report']:.2f} s over {self.reports} "
                f"epoch(s) ({per:.3f} s each), supervisor calls {self.overhead_s['supervisor']:.2f} s")

    def finish(self, result: TrainResult | None) -> None:
        """The final report (run_worker calls it with what the train loop returned): on the chief the
        TrainResult's files and record become the run's final checkpoint, which the registry reads."""
        import ray.train

        if self.is_chief and not isinstance(result, TrainResult):
            raise TypeError(f"the {self.ctx.plugin} train loop returned {type(result).__name__} on the chief "
                            "worker, not a raysight.plugin.TrainResult")
        epoch = self.ctx.epochs
        values: dict[str, float | int | None] = {}
        checkpoint = None
        if self.is_chief and isinstance(result, TrainResult):
            values = clean_metrics(result.metrics)
            epoch = int(result.epoch if result.epoch is not None else self.ctx.epochs)
            classes = list(result.classes) if result.classes is not None else list(self.ctx.classes)
            folder = self.scratch("final")
            write_final(result, folder, metrics=values, classes=classes, epoch=epoch, task_type=self.ctx.task_type,
                        model_name=self.ctx.model_name, imgsz=self.ctx.imgsz)
            checkpoint = ray.train.Checkpoint.from_directory(str(folder))
            self.log(f"Final metrics: {values}")
            self.log(self.overhead_line(), flush=True)
        persisted: list[Any] = []

        def upload(ckpt: Any, dir_name: str) -> Any:
            persisted.append(move_into_storage(ckpt, dir_name))
            return persisted[-1]

        ray.train.report({**values, "epoch": epoch, "final": 1}, checkpoint=checkpoint,
                         checkpoint_upload_fn=upload if checkpoint is not None else None)
        self.flush()
        if persisted and Path(persisted[-1].path).is_dir():
            # the final checkpoint is in the run's storage: the supervisor registers the model now, while
            # Ray Train winds the run down (about a second: worker group, controller, placement group)
            self._call("finished", persisted[-1].path)

    def _upload_for(self, folder: Path | None) -> Any:
        """How Ray Train persists `folder`: moved when the platform made it (session.scratch), so that nothing
        of the train loop's own is taken away; Ray Train's copy (None) otherwise."""
        return move_into_storage if folder is not None and Path(folder) in self._scratch else None

    def scratch(self, name: str) -> Path:
        """A fresh temporary folder under the job's work folder (for a checkpoint being assembled); the
        platform removes it once reported, and at the end of the run."""
        root = Path(self.ctx.output_dir) / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=root))
        self._scratch.append(folder)
        return folder

    def _discard_scratch(self, folder: Path | None = None) -> None:
        for made in list(self._scratch):
            if folder is None or made == folder:
                shutil.rmtree(made, ignore_errors=True)
                self._scratch.remove(made)


def move_into_storage(checkpoint: Any, dir_name: str) -> Any:
    """Ray Train's checkpoint upload, as a move when the run's storage is a local folder (the workspace's
    jobs/ folder by default): a rename on the same disk instead of copying every checkpoint file, and no
    temporary copy left behind. Other storage (or a folder already there) takes Ray Train's own copy."""
    import pyarrow.fs
    import ray.train

    storage = ray.train.get_context().get_storage()
    dest = Path(storage.build_checkpoint_path_from_name(dir_name))
    local = isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem)
    if not local or dest.exists() or not Path(checkpoint.path).is_dir():
        return storage.persist_current_checkpoint(checkpoint, dir_name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(checkpoint.path, dest)
    return ray.train.Checkpoint.from_directory(str(dest))


def clear_scratch_root(output_dir: str | Path) -> None:
    """Remove the job's temporary checkpoint folders (``<output_dir>/tmp``) a run left (a run killed
    before it could remove them, or one that ended)."""
    shutil.rmtree(Path(output_dir) / "tmp", ignore_errors=True)


def run_worker(config: dict[str, Any]) -> None:
    """TorchTrainer's train_loop_per_worker: run the plugin's train loop, logging start and failure, and
    report the TrainResult it returns as the run's final checkpoint."""
    import ray

    fn = config["fn"]
    session = TrainSession.for_config(config)
    c = session.ctx
    if session.is_chief:
        clear_scratch_root(c.output_dir)  # what a killed earlier run of this job left
        node = ray.get_runtime_context().get_node_id()[:8]
        session.log(f"Starting training: {c.model_name} ({c.plugin}) on {c.data}, {c.epochs} epochs, "
                    f"imgsz {c.imgsz}, batch {c.batch}, {session.world_size} worker(s), node {node}, "
                    f"{'pretrained weights ' + str(c.weights) if c.weights else 'fresh weights'}; "
                    f"{warm_processes.describe()}", flush=True)
    try:
        session.finish(fn(config))
    except Exception as exc:
        session.note_error(public_message(exc))
        raise
    finally:
        session.flush()
        session._discard_scratch()
        if session.is_chief:
            clear_scratch_root(c.output_dir)
        TrainSession._sessions.pop(c.job_id, None)
