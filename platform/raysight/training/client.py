"""The JobRunner port (raysight.ports) over the workspace's job supervisor actor (attached as
``ctx.job_runner`` by raysight.runtime.attach_trainer). Ray's failures of these calls become domain
errors here (training/ray_errors.py)."""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysight.context import Platform
from raysight.ports import JobRecordsFactory
from raysight.settings import ray_env
from raysight.training.ray_errors import domain_error
from raysight.training.supervisor import NAMESPACE, RemoteSupervisor, supervisor_name

log = logging.getLogger(__name__)
CALL_TIMEOUT_S = 60.0


class TrainerClient:
    """submit / stop / active over the workspace's supervisor actor (created on first use, detached).

    The supervisor is pinned to this process's node: it appends to the job logs and the SQLite
    database of the workspace, which live there. `records` is what it keeps the job records with
    (the domain's implementation, built in the supervisor's process)."""

    def __init__(self, ctx: Platform, records: JobRecordsFactory) -> None:
        self.settings = ctx.settings
        self.name = supervisor_name(ctx.settings)
        self.records = records
        self._actor: Any = None

    @classmethod
    def attach(cls, ctx: Platform, records: JobRecordsFactory) -> TrainerClient:
        client = cls(ctx, records)
        client.actor()  # creates (and thereby reconciles) or finds it now
        ctx.job_runner = client
        return client

    def actor(self) -> Any:
        if self._actor is None:
            self._actor = RemoteSupervisor.options(
                name=self.name,
                namespace=NAMESPACE,
                lifetime="detached",
                get_if_exists=True,
                runtime_env={"env_vars": ray_env(local=False)},  # inside Ray: keep the cluster's auth mode
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    node_id=ray.get_runtime_context().get_node_id(), soft=False
                ),
            ).remote(self.settings.as_args(), self.records)
            ray.get(self._actor.ping.remote(), timeout=CALL_TIMEOUT_S)
        return self._actor

    def _call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        try:
            try:
                return ray.get(getattr(self.actor(), method).remote(*args), timeout=timeout)
            except ray.exceptions.RayActorError:
                self._actor = None  # the supervisor died: a new one reconciles, then retry once
                return ray.get(getattr(self.actor(), method).remote(*args), timeout=timeout)
        except Exception as exc:
            raise domain_error(exc) from exc

    def submit(self, job_id: str) -> str:
        return str(self._call("submit", job_id))

    def stop(self, job_id: str) -> str:
        return str(self._call("stop", job_id, timeout=self.settings.train_stop_timeout_s + 60))

    def active(self) -> dict[str, list[str]]:
        return dict(self._call("active"))

    def probe(self, timeout: float = 10.0) -> dict[str, Any]:
        """Liveness without side effects: look the supervisor up by name (never creating one, unlike
        every other call here) and ask it for its jobs within `timeout` seconds."""
        try:
            actor = ray.get_actor(self.name, namespace=NAMESPACE)
        except ValueError:
            return {"alive": False, "supervisor": self.name, "reason": "the training supervisor is not running"}
        try:
            active = ray.get(actor.active.remote(), timeout=timeout)
        except Exception as exc:  # whatever Ray raises for a supervisor that is gone or stuck
            return {"alive": False, "supervisor": self.name, "reason": f"no answer: {domain_error(exc).message}"}
        return {"alive": True, "supervisor": self.name, **active}

    def queue_reasons(self) -> dict[str, str]:
        return dict(self._call("queue_reasons"))

    def reconcile(self) -> dict[str, int]:
        return dict(self._call("reconcile"))

    def shutdown(self) -> None:
        """Kill the supervisor (tests; running jobs die with it)."""
        if self._actor is not None:
            ray.kill(self._actor)
            self._actor = None
