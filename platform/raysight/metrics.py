"""Platform metrics: the names, kinds and tags in one table, and the recorder port code records through.

Code anywhere in raysight (services included) records with::

    from raysight import metrics
    metrics.recorder().inc("raysight_model_loads_total", family="yolo")

The recorder of a process is a no-op until the serving or training glue installs the Ray one
(raysight.ray_metrics.install(), which exports through ray.util.metrics to Ray's Prometheus endpoint,
where every name appears with Ray's "ray_" prefix). This module imports no Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["counter", "histogram", "gauge"]

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LONG_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class MetricSpec:
    kind: Kind
    description: str
    tags: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


METRICS: dict[str, MetricSpec] = {
    # the ingress (raysight.api.request_metrics)
    "raysight_http_requests_total": MetricSpec(
        "counter", "HTTP requests answered, by route template, API dialect, method and status",
        ("route", "dialect", "method", "status")),
    "raysight_http_request_duration_seconds": MetricSpec(
        "histogram", "HTTP request latency in seconds, by route template, dialect and method",
        ("route", "dialect", "method"), LATENCY_BUCKETS_S),
    # model deployments (raysight.serving.model_deployment)
    "raysight_model_loads_total": MetricSpec("counter", "models loaded into a replica", ("family",)),
    "raysight_model_load_seconds": MetricSpec(
        "histogram", "time to load a model into a replica", ("family",), LONG_BUCKETS_S),
    "raysight_model_cache_hits_total": MetricSpec(
        "counter", "requests whose model the replica already held", ("family",)),
    "raysight_model_evictions_total": MetricSpec(
        "counter", "models dropped from a replica (lru, deleted, outdated)", ("family", "reason")),
    "raysight_batch_size": MetricSpec(
        "histogram", "images per model call of a batched predict", ("family",), BATCH_BUCKETS),
    "raysight_predict_seconds": MetricSpec(
        "histogram", "time of one batched model call", ("family",), LATENCY_BUCKETS_S),
    # training (raysight.training.supervisor)
    "raysight_training_epochs_total": MetricSpec("counter", "training epochs completed", ("family",)),
    "raysight_training_epoch_seconds": MetricSpec(
        "histogram", "wall time of one training epoch", ("family",), LONG_BUCKETS_S),
    "raysight_training_queue_length": MetricSpec("gauge", "training jobs waiting in the queue"),
    "raysight_training_jobs_running": MetricSpec("gauge", "training jobs running"),
    "raysight_training_jobs_ended_total": MetricSpec("counter", "training runs ended, by outcome", ("outcome",)),
    # imgseg ingest (raysight.services.imgseg.ingest)
    "raysight_ingest_stage_seconds": MetricSpec(
        "histogram", "time of each stage of a screenshot ingest", ("stage",), LATENCY_BUCKETS_S),
    "raysight_ingest_total": MetricSpec("counter", "screenshot ingests, by outcome", ("outcome",)),
}


class Recorder(Protocol):
    """The port: what the platform needs from a metrics system."""

    def inc(self, name: str, value: float = 1.0, /, **tags: str) -> None: ...
    def observe(self, name: str, value: float, /, **tags: str) -> None: ...
    def set(self, name: str, value: float, /, **tags: str) -> None: ...


class NullRecorder:
    """Records nothing (a process without Ray: unit tests, CLI commands)."""

    def inc(self, name: str, value: float = 1.0, /, **tags: str) -> None:
        check(name, "counter", tags)

    def observe(self, name: str, value: float, /, **tags: str) -> None:
        check(name, "histogram", tags)

    def set(self, name: str, value: float, /, **tags: str) -> None:
        check(name, "gauge", tags)


def check(name: str, kind: Kind, tags: dict[str, str]) -> MetricSpec:
    """The spec of `name`; a misspelt name, wrong kind or tag set is a bug, raised as such."""
    spec = METRICS.get(name)
    if spec is None or spec.kind != kind or set(tags) != set(spec.tags):
        raise ValueError(f"metric {name!r} is not a {kind} with tags {sorted(tags)} (see raysight.metrics.METRICS)")
    return spec


_recorder: list[Recorder] = [NullRecorder()]


def recorder() -> Recorder:
    """This process's recorder (a no-op until one is installed)."""
    return _recorder[0]


def use(new: Recorder) -> Recorder:
    """Install `new` as this process's recorder; returns the previous one."""
    old, _recorder[0] = _recorder[0], new
    return old
