"""What runs inside each Ray Train worker: `run_worker` (the TorchTrainer's train_loop_per_worker) and
`TrainSession`, the small API a plugin's train loop uses:

    session = TrainSession.for_config(config)      # config = TrainContext as a dict (+ "fn")
    with session.restored() as (ckpt_dir, epoch):  # the last checkpoint of this job, if any
        ...
    session.log("something happened")              # -> the job's log file, via the supervisor actor
    session.report(epoch, metrics, checkpoint_dir) # ray.train.report + live progress in the job record
    session.finish(artifacts_dir, metrics)         # final report: weights, plots, meta.json for the registry

Log lines and progress go to the job supervisor (a named Ray actor on the platform's node), so they
reach the job's log file and record even when this worker runs on another node. Calls are
synchronous (and batched) so lines keep their order.
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

import ray
import ray.train

from raysight import joblog
from raysight.backend import TrainContext
from raysight.errors import public_message

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
        fields = TrainContext.__dataclass_fields__
        self.ctx = TrainContext(**{k: v for k, v in config.items() if k in fields})
        try:
            context = ray.train.get_context()
            self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        except Exception:  # outside Ray Train (a plugin test calling the loop directly)
            self.rank, self.world_size = 0, 1
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._actor: Any = None
        self._actor_looked_up = False
        self.started = time.monotonic()

    @classmethod
    def for_config(cls, config: dict[str, Any]) -> TrainSession:
        job_id = str(config["job_id"])
        session = cls._sessions.get(job_id)
        if session is None:
            session = cls._sessions[job_id] = cls(config)
        return session

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    # -- the supervisor ------------------------------------------------------------------------------
    def _supervisor(self) -> Any:
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
        actor = self._supervisor()
        if actor is None:
            return False
        try:
            ray.get(getattr(actor, method).remote(self.ctx.job_id, *args), timeout=30)
            return True
        except Exception as exc:
            log.warning("job supervisor call %s failed: %s", method, exc)
            return False

    # -- logs -------------------------------------------------------------------------------------------
    def log(self, message: str, *, all_ranks: bool = False, flush: bool = False) -> None:
        if not (self.is_chief or all_ranks):
            return
        prefix = f"[rank {self.rank}] " if self.world_size > 1 and not self.is_chief else ""
        self._buffer.extend(joblog.stamp(prefix + message))
        if flush or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
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
        chief's `checkpoint_dir` is saved (its content is copied, the folder may be deleted after)."""
        values = clean_metrics(metrics)
        checkpoint = None
        if checkpoint_dir is not None and self.is_chief:
            (Path(checkpoint_dir) / META).write_text(json.dumps({"epoch": epoch, "metrics": values}))
            checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir))
        ray.train.report({**values, "epoch": epoch}, checkpoint=checkpoint)
        if self.is_chief:
            shown = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
            self.log(f"Epoch {epoch}/{self.ctx.epochs} {shown}", flush=True)
            self._call("progress", epoch, values, checkpoint is not None)

    def finish(self, artifacts: Path, *, weights: str, metrics: dict[str, Any], plots: list[str],
               epoch: int, extra: dict[str, Any] | None = None) -> None:
        """The final report: `artifacts` holds the weights and plots the registry copies."""
        values = clean_metrics(metrics)
        checkpoint = None
        if self.is_chief:
            meta = {
                "final": True, "epoch": epoch, "weights": weights, "plots": plots, "metrics": values,
                "classes": list(self.ctx.classes), "task_type": self.ctx.task_type,
                "model_name": self.ctx.model_name, "imgsz": self.ctx.imgsz, **(extra or {}),
            }
            (artifacts / META).write_text(json.dumps(meta))
            checkpoint = ray.train.Checkpoint.from_directory(str(artifacts))
            self.log(f"Final metrics: {values}", flush=True)
        ray.train.report({**values, "epoch": epoch, "final": 1}, checkpoint=checkpoint)
        self.flush()

    def scratch(self, name: str) -> Path:
        """A fresh temporary folder under the job's work folder (for a checkpoint being assembled)."""
        root = Path(self.ctx.output_dir) / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}_", dir=root))


def discard(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def run_worker(config: dict[str, Any]) -> None:
    """TorchTrainer's train_loop_per_worker: run the plugin's train loop, logging start and failure."""
    fn = config["fn"]
    session = TrainSession.for_config(config)
    c = session.ctx
    if session.is_chief:
        node = ray.get_runtime_context().get_node_id()[:8]
        session.log(f"Starting training: {c.model_name} ({c.plugin}) on {c.data}, {c.epochs} epochs, "
                    f"imgsz {c.imgsz}, batch {c.batch}, {session.world_size} worker(s), node {node}, "
                    f"{'pretrained weights ' + str(c.weights) if c.weights else 'fresh weights'}", flush=True)
    try:
        fn(config)
    except Exception as exc:
        session.note_error(public_message(exc))
        raise
    finally:
        session.flush()
        TrainSession._sessions.pop(c.job_id, None)
