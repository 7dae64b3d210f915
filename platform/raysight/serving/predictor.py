"""The Predictor port (raysight.ports) over the model deployments' DeploymentHandles, and the one place
where Ray's failures on the serving path become domain errors (`domain_error`).

The ingress builds one per replica (serving/ingress.py). It also keeps what this process learned while
serving: the model keys it sent per model id (so that a delete can evict them where they are held)
and the device each family's replicas really use (for /health).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Any

import numpy as np
import ray.exceptions
import ray.serve.exceptions

from raysight.errors import Busy, RaysightError, Timeout, Unavailable
from raysight.serving.grouping import CallGroups, Grouping

log = logging.getLogger(__name__)

# Ray's failures that mean "cannot serve now"
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ray.serve.exceptions.DeploymentUnavailableError,
    ray.serve.exceptions.RayServeException,
    ray.exceptions.RayActorError,  # ActorDiedError, ActorUnavailableError
    ray.exceptions.RaySystemError,
    ray.exceptions.ObjectLostError,  # OwnerDiedError
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
)
TIMEOUTS: tuple[type[BaseException], ...] = (ray.exceptions.GetTimeoutError, TimeoutError)
# grouped calls kept per ingress before those with nothing out or waiting are dropped
MAX_IDLE_GROUPS = 64


def domain_error(exc: BaseException) -> RaysightError:
    """A Ray (or replica) failure as a domain error."""
    if isinstance(exc, RaysightError):
        return exc
    cause = getattr(exc, "cause", None)  # RayTaskError carries the replica's exception
    if isinstance(cause, RaysightError):
        return cause
    if isinstance(exc, ray.serve.exceptions.BackPressureError):  # the deployment's max_queued_requests
        return Busy(f"the model service is busy ({exc}); retry shortly",
                    retry_after_s=getattr(exc, "retry_after_s", None) or 1.0)
    if isinstance(exc, TIMEOUTS):
        return Timeout("the model took too long to answer")
    if isinstance(exc, UNAVAILABLE):
        return Unavailable(f"the model service is unavailable ({type(exc).__name__})")
    log.error("inference call failed: %r", exc)
    return Unavailable(f"inference failed: {type(exc).__name__}")


async def _call(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise domain_error(exc) from None


class ServePredictor:
    """Predictor over `handles` (family -> DeploymentHandle). `placements` (family -> where its
    deployment was placed) is shared with the Serve health probe; the device entries are corrected with
    what the replicas report. `grouping` (family -> Grouping): the families whose concurrent predictions
    go to a replica in grouped calls (serving/grouping.py)."""

    def __init__(self, handles: dict[str, Any], placements: dict[str, dict[str, Any]] | None = None,
                 grouping: dict[str, Grouping] | None = None) -> None:
        self.handles = dict(handles)
        self.placements = placements
        self.grouping = dict(grouping or {})
        self._groups: dict[tuple[str, str, str], CallGroups] = {}
        self._sent: dict[str, set[tuple[str, str]]] = {}  # model id -> {(family, key)} sent from here
        self._devices_asked: set[str] = set()
        self._background: set[asyncio.Future[Any]] = set()

    def families(self) -> list[str]:
        return sorted(self.handles)

    def _handle(self, family: str, model_key: str | None = None) -> Any:
        handle = self.handles.get(family)
        if handle is None:
            raise Unavailable(f"no model deployment for '{family}' (is the platform running under Ray Serve?)")
        if model_key is None:
            return handle
        self._sent.setdefault(model_key.split("@", 1)[0], set()).add((family, model_key))
        return handle.options(multiplexed_model_id=model_key)

    async def predict(self, family: str, model_key: str, image: np.ndarray | bytes,
                      options: dict[str, Any]) -> list[dict[str, Any]]:
        if family in self.grouping:
            return await self._groups_for(family, model_key, options).submit(image)
        handle = self._handle(family, model_key)
        self._note_device(family)
        return await _call(handle.predict.remote(image, options))

    def _groups_for(self, family: str, model_key: str, options: dict[str, Any]) -> CallGroups:
        """The grouped calls of one model with these options (only requests that agree on both share a call)."""
        key = (family, model_key, repr(sorted(options.items())))
        groups = self._groups.get(key)
        if groups is None:
            if len(self._groups) >= MAX_IDLE_GROUPS:  # models and options that come and go
                self._groups = {k: g for k, g in self._groups.items() if not g.idle}
            groups = self._groups[key] = CallGroups(
                self.grouping[family], partial(self._predict_each, family, model_key, options), family)
        return groups

    async def _predict_each(self, family: str, model_key: str, options: dict[str, Any],
                            images: list[Any]) -> list[Any]:
        """One grouped call: per image its detections, or its own failure as a domain error."""
        handle = self._handle(family, model_key)
        self._note_device(family)
        answers = await _call(handle.predict_each.remote(images, options))
        return [domain_error(a) if isinstance(a, BaseException) else a for a in answers]

    async def predict_many(self, family: str, model_key: str, images: list[np.ndarray],
                           options: dict[str, Any]) -> list[list[dict[str, Any]]]:
        handle = self._handle(family, model_key)
        self._note_device(family)
        return list(await _call(handle.predict_many.remote(images, options)))

    async def run(self, family: str, model_key: str, op: str, payload: dict[str, Any]) -> Any:
        return await _call(self._handle(family, model_key).run.remote(op, payload))

    async def evict(self, model_id: str, *, current: tuple[str, str] | None = None) -> None:
        """Serve cannot broadcast to every replica: an `evict` call routed with each key this process
        sent for the model (Serve routes a multiplexed id to a replica holding it), plus one unrouted
        call per deployment; with one replica per deployment that reaches every holder. The replicas'
        own reconciliation against the registry is the reliable half (ModelDeployment.reconcile)."""
        sent = set(self._sent.pop(model_id, set()))
        if current is not None:
            sent.add(current)
        calls = [self.handles[f].options(multiplexed_model_id=k).evict.remote(model_id)
                 for f, k in sent if f in self.handles]
        calls += [h.evict.remote(model_id) for h in self.handles.values()]
        results = await asyncio.gather(*(_call(c) for c in calls), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("evicting %s: %s", model_id, result)

    async def info(self, family: str) -> dict[str, Any]:
        return dict(await _call(self._handle(family).info.remote()))

    def _note_device(self, family: str) -> None:
        """Once per family and process: ask a replica which device it really uses, for /health."""
        if family in self._devices_asked or self.placements is None:
            return
        self._devices_asked.add(family)
        placements = self.placements

        async def ask() -> None:
            try:
                info = await self.info(family)
                placements.setdefault(family, {})["device"] = info["device"]
            except Exception as exc:
                log.warning("cannot ask %s replicas for their device: %s", family, exc)

        task = asyncio.ensure_future(ask())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
