"""The typed interfaces the domain owns for what Ray does for it (DESIGN.md "ports").

    api -> services -> ports <- serving / training

services/ call these and import no Ray; serving/ and training/ implement them, translate Ray's
errors into raysight.errors (once each: serving/predictor.py, training/ray_errors.py) and reach the
domain only through them. The composition root (raysight.runtime, serving/app.py, serving/ingress.py)
hands each process its implementations; they are typed fields of raysight.context.Platform, None
where the process runs without Ray (unit tests, CLI commands): services then answer with an explicit
state or error, never silently.

- Predictor: serving a model family's models (predict, a family operation, eviction, replica facts).
- JobRunner: running training jobs (submit / stop / what waits and why / liveness).
- JobRecords: the record-keeping the job supervisor does through the domain while a job runs
  (implemented by services, handed to training as a factory so that the supervisor's own process
  builds it on its own Platform).
- ModelCatalog: what a serving replica reads from the model registry (implemented by services).
- Cluster: facts about the Ray cluster the domain shows or checks (resources, health, dashboard).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from raysight.backend import ModelRef
    from raysight.context import Platform

# The states of a training job (its record is the source of truth).
QUEUED, RUNNING, COMPLETED, FAILED, STOPPED = "queued", "running", "completed", "failed", "stopped"
ACTIVE = (QUEUED, RUNNING)
INTERRUPTED = "interrupted: server restarted"


@runtime_checkable
class Predictor(Protocol):
    """The model deployments, one per family (backend name), each keyed by model key."""

    def families(self) -> list[str]:
        """The families (backend names) that have a deployment."""
        ...

    async def predict(self, family: str, model_key: str, image: np.ndarray | bytes,
                      options: dict[str, Any]) -> list[dict[str, Any]]:
        """Detections (Detection.as_dict()) of one RGB uint8 image or one encoded image (decoded beside
        the model, boxes in the image's own pixels). Concurrent calls are batched by the replica."""
        ...

    async def predict_many(self, family: str, model_key: str, images: list[np.ndarray],
                           options: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """Detections of several RGB uint8 images in one call (one batch on one replica; video frames)."""
        ...

    async def run(self, family: str, model_key: str, op: str, payload: dict[str, Any]) -> Any:
        """A family-specific operation (Backend.run) on the replica holding `model_key`."""
        ...

    async def evict(self, model_id: str, *, current: tuple[str, str] | None = None) -> None:
        """Drop every loaded version of `model_id` from the replicas this process can reach (best
        effort; `current` is its (family, key) while its record exists)."""
        ...

    async def info(self, family: str) -> dict[str, Any]:
        """What one replica of `family` reports (backend, device, loaded models, batching...)."""
        ...


@runtime_checkable
class JobRunner(Protocol):
    """Runs training jobs whose records services keep (submit answers the job's status now)."""

    def submit(self, job_id: str) -> str: ...

    def stop(self, job_id: str) -> str:
        """Stop a queued or running job; returns once its run has ended."""
        ...

    def queue_reasons(self) -> dict[str, str]:
        """Why each queued job waits (job id -> a sentence naming the job slot or the resource)."""
        ...

    def probe(self, timeout: float = 10.0) -> dict[str, Any]:
        """Liveness without side effects: {"alive", "supervisor", "running", "queued" | "reason"}."""
        ...

    def reconcile(self) -> dict[str, int]:
        """Bring the records in line with what the runner holds: {"interrupted", "requeued"}."""
        ...


@runtime_checkable
class JobRecords(Protocol):
    """The job records as the supervisor updates them while jobs run."""

    def active(self) -> list[tuple[str, str]]:
        """(job id, status) of every queued or running job, oldest first."""
        ...

    def spec(self, job_id: str) -> dict[str, Any]:
        """{"job_id", "plugin", "ctx" (TrainContext as a dict), "num_workers"}; a domain error if the job
        cannot start any more (its dataset or base model is gone)."""
        ...

    def get(self, job_id: str) -> dict[str, Any]:
        """The job's record (services.training.as_dict); NotFound once deleted."""
        ...

    def log(self, job_id: str, message: str) -> None: ...

    def mark_running(self, job_id: str) -> None: ...

    def mark_stopped(self, job_id: str, *, error: str | None = None) -> None: ...

    def fail(self, job_id: str, error: str) -> None: ...

    def record_epoch(self, job_id: str, *, epoch: int, metrics: dict[str, Any], checkpointed: bool,
                     eta_s: float | None) -> None: ...

    def record_resumed(self, job_id: str, *, epoch: int, metrics: dict[str, Any] | None = None) -> None: ...

    def complete(self, job_id: str, artifacts: Path | str) -> dict[str, Any]:
        """Register the model a finished run left in `artifacts`; returns the model record."""
        ...


@runtime_checkable
class ModelCatalog(Protocol):
    """What a serving replica reads from the model registry."""

    def model_ref(self, model_id: str) -> ModelRef:
        """What loading the registered model needs; NotFound for an unknown model."""
        ...

    def serving_key(self, model_id: str) -> tuple[str, str]:
        """(family, `<model_id>@<version>`) of a registered model; NotFound for an unknown model."""
        ...


@runtime_checkable
class Cluster(Protocol):
    """The Ray cluster as the domain sees it."""

    def resources(self) -> dict[str, float]:
        """The cluster's total logical resources ({"CPU": 8.0, "GPU": 1.0, ...})."""
        ...

    def probe(self, component: str) -> dict[str, Any]:
        """Health of "ray" or "serve": {"ok", ...}."""
        ...

    def dashboard_url(self) -> str | None: ...

    def gpus(self) -> list[dict[str, Any]]:
        """Every GPU of every live node: {node, node_id, index, name, memory_total_mb, memory_used_mb,
        memory_free_mb} (memory None where a node cannot say); [] on a CPU-only cluster."""
        ...


JobRecordsFactory = Callable[["Platform"], JobRecords]
ModelCatalogFactory = Callable[["Platform"], ModelCatalog]
