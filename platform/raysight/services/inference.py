"""Inference through the model deployments (no ray import: only methods of the handles in
ctx.model_handles are called). Errors coming back from Ray become domain errors in `_call`, the one
place that knows what Ray's failures look like.

Images are validated in the ingress (services.images). The native /infer routes send the upload's
encoded bytes to the replica, which decodes them (a JPEG is ~10-40x smaller than its pixels, and the
decode runs beside the model instead of in the ingress, measured in bench/serving.py); other callers send
decoded arrays. Either way images larger than images.MAX_INFER_PIXELS are downscaled before the model
sees them and their boxes scaled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Busy, Invalid, NotFound, RaysightError, Timeout, TooLarge, Unavailable, Unprocessable
from raysight.services import models, retention
from raysight.services.images import MAX_INFER_PIXELS, decode_sized, fit_pixels, probe

log = logging.getLogger(__name__)

# Ray's failures that mean "cannot serve now" (matched by class name: services import no ray).
_UNAVAILABLE = {
    "DeploymentUnavailableError", "RayActorError", "ActorDiedError",
    "ActorUnavailableError", "RaySystemError", "ObjectLostError", "OwnerDiedError", "WorkerCrashedError",
    "NodeDiedError", "RayServeException",
}
_TIMEOUT = {"GetTimeoutError", "RequestTimeoutError", "TimeoutError"}
_KEYS = "inference_keys"  # ctx.extras: model_id -> {(backend, key)} this process has sent requests for


def _domain(exc: BaseException) -> RaysightError:
    """A Ray (or replica) failure as a domain error."""
    if isinstance(exc, RaysightError):
        return exc
    cause = getattr(exc, "cause", None)  # RayTaskError carries the replica's exception
    if isinstance(cause, RaysightError):
        return cause
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "BackPressureError" in names:  # the deployment's max_queued_requests is reached
        return Busy(f"the model service is busy ({exc}); retry shortly",
                    retry_after_s=getattr(exc, "retry_after_s", None) or 1.0)
    if names & _TIMEOUT:
        return Timeout("the model took too long to answer")
    if names & _UNAVAILABLE:
        return Unavailable(f"the model service is unavailable ({type(exc).__name__})")
    log.error("inference call failed: %r", exc)
    return Unavailable(f"inference failed: {type(exc).__name__}")


async def _call(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _domain(exc) from None


def _handle(ctx: Platform, backend: str) -> Any:
    handle = ctx.model_handles.get(backend)
    if handle is None:
        raise Unavailable(f"no model deployment for '{backend}' (is the platform running under Ray Serve?)")
    return handle


def options(*, conf: float = 0.25, iou: float = 0.7, imgsz: int | None = None) -> dict[str, Any]:
    """Validated predict options (the dict that travels to the replica)."""
    if not 0.0 <= float(conf) <= 1.0:
        raise Unprocessable("conf must be between 0 and 1")
    if not 0.0 <= float(iou) <= 1.0:
        raise Unprocessable("iou must be between 0 and 1")
    if imgsz is not None and not 32 <= int(imgsz) <= 4096:
        raise Unprocessable("imgsz must be between 32 and 4096")
    return {"conf": float(conf), "iou": float(iou), "imgsz": int(imgsz) if imgsz else None}


def resolve(*, ctx: Platform, model_id: str) -> tuple[str, str]:
    """(backend, key) of a registry model that can predict: NotFound for an unknown model, Invalid
    for a family without predict."""
    backend_name, key = models.serving_key(ctx=ctx, model_id=model_id)
    try:
        backend = ctx.plugins.backend(backend_name)
    except Exception as exc:
        raise Unavailable(f"the '{backend_name}' plugin of model '{model_id}' is not loaded") from exc
    if not backend.supports(Operation.PREDICT):
        raise Invalid(f"model '{model_id}' ({backend_name}) has no predict")
    ctx.extras.setdefault(_KEYS, {}).setdefault(model_id, set()).add((backend_name, key))
    return backend_name, key


async def call(*, ctx: Platform, backend: str, model_key: str, op: str, payload: dict[str, Any]) -> Any:
    """A family-specific operation (backend.run) on the replica that holds `model_key`."""
    handle = _handle(ctx, backend).options(multiplexed_model_id=model_key)
    return await _call(handle.run.remote(op, payload))


async def predict_keyed(
    *, ctx: Platform, backend: str, model_key: str, image: np.ndarray, opts: dict[str, Any]
) -> list[dict[str, Any]]:
    """One image through a resolved model (batched on the replica with concurrent calls)."""
    handle = _handle(ctx, backend).options(multiplexed_model_id=model_key)
    _note_device(ctx, backend)
    small = fit_pixels(image, MAX_INFER_PIXELS)
    dets = await _call(handle.predict.remote(small, opts))
    if small is not image:
        scale_boxes(dets, image.shape[1] / small.shape[1], image.shape[0] / small.shape[0])
    return dets


def scale_boxes(dets: list[dict[str, Any]], sx: float, sy: float | None = None) -> list[dict[str, Any]]:
    sy = sx if sy is None else sy
    if sx == 1.0 and sy == 1.0:
        return dets
    for det in dets:
        box = det["bbox"]
        box["x1"], box["x2"] = box["x1"] * sx, box["x2"] * sx
        box["y1"], box["y2"] = box["y1"] * sy, box["y2"] * sy
    return dets


async def predict_images(
    *,
    ctx: Platform,
    model_id: str,
    images: list[np.ndarray],
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
) -> list[list[dict[str, Any]]]:
    """Detections (Detection.as_dict()) per RGB uint8 image, in order. Calls go out concurrently so
    that the replica's @serve.batch groups them."""
    opts = options(conf=conf, iou=iou, imgsz=imgsz)
    backend, key = resolve(ctx=ctx, model_id=model_id)
    return list(await asyncio.gather(*(
        predict_keyed(ctx=ctx, backend=backend, model_key=key, image=im, opts=opts) for im in images
    )))


async def evict(*, ctx: Platform, model_id: str) -> None:
    """Drop `model_id` from the replicas after a registry delete or update.

    Serve cannot broadcast to every replica, so this has two halves:
    - now, best effort: an `evict` call routed with each key this process has served for the model
      (Serve routes a multiplexed id to a replica that holds it), plus one unrouted call per
      deployment; with one replica per deployment that reaches every holder;
    - reliably, within ModelDeploymentOptions.reconcile_interval_s: every replica checks its loaded
      registry models against the registry and drops deleted or outdated ones.
    Correctness never depends on either: an updated model has a new key, a deleted one fails to
    resolve before any replica is asked."""
    sent: set[tuple[str, str]] = set(ctx.extras.get(_KEYS, {}).pop(model_id, set()))
    with contextlib.suppress(NotFound):
        sent.add(models.serving_key(ctx=ctx, model_id=model_id))
    calls = [_handle(ctx, b).options(multiplexed_model_id=k).evict.remote(model_id) for b, k in sent
             if b in ctx.model_handles]
    calls += [h.evict.remote(model_id) for h in ctx.model_handles.values()]
    results = await asyncio.gather(*(_call(c) for c in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.warning("evicting %s: %s", model_id, result)


def _note_device(ctx: Platform, backend: str) -> None:
    """Once per backend and process: ask a replica which device it really uses, for /health."""
    asked: set[str] = ctx.extras.setdefault("inference_devices_asked", set())
    if backend in asked or "placements" not in ctx.extras:
        return
    asked.add(backend)

    async def ask() -> None:
        try:
            info = await _call(ctx.model_handles[backend].info.remote())
            ctx.extras["placements"].setdefault(backend, {})["device"] = info["device"]
        except Exception as exc:
            log.warning("cannot ask %s replicas for their device: %s", backend, exc)

    task = asyncio.ensure_future(ask())
    ctx.extras.setdefault("inference_background", set()).add(task)
    task.add_done_callback(ctx.extras["inference_background"].discard)


async def replicas(*, ctx: Platform) -> dict[str, Any]:
    """What one replica of each model deployment reports (device, loaded models, batching)."""
    names = sorted(ctx.model_handles)
    results = await asyncio.gather(*(_call(ctx.model_handles[n].info.remote()) for n in names),
                                   return_exceptions=True)
    out: dict[str, Any] = {}
    placements: dict[str, dict[str, Any]] = ctx.extras.get("placements", {})
    for name, info in zip(names, results, strict=True):
        if isinstance(info, Exception):
            out[name] = {"ok": False, "detail": getattr(info, "message", str(info))}
            continue
        out[name] = {"ok": True, **info}
        if name in placements:  # /health shows the device the replica really uses
            placements[name]["device"] = info["device"]
    return out


# -- uploads (the native /infer endpoints) ----------------------------------------------------------
Reader = Callable[[int], Awaitable[bytes]]


async def read_all(read: Reader, *, limit: int, what: str = "file") -> bytes:
    """The whole upload, refusing more than `limit` bytes (TooLarge) without reading further."""
    chunks, size = [], 0
    while chunk := await read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{what} larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Upload:
    """A decoded, stored upload: the image sent to models, its stored path, and the box scale."""

    image: np.ndarray
    image_path: str
    scale: float


async def store_image(*, ctx: Platform, data: bytes) -> Upload:
    """Validate and decode an uploaded image (Invalid if it is none) and keep it under uploads/."""
    image, scale = await asyncio.to_thread(decode_sized, data, max_pixels=MAX_INFER_PIXELS,
                                           max_decode_pixels=ctx.settings.max_image_pixels)
    path = ctx.workspace.new_upload_path("infer", probe(data).suffix)
    await asyncio.to_thread(path.write_bytes, data)
    await asyncio.to_thread(retention.maybe_sweep_uploads, ctx=ctx)
    return Upload(image=image, image_path=ctx.workspace.relative(path), scale=scale)


async def infer_uploads(
    *, ctx: Platform, model_ids: list[str], files: list[bytes], conf: float = 0.25, iou: float = 0.7,
    imgsz: int | None = None,
) -> list[dict[str, Any]]:
    """[{model_id, image_path, detections}] for every model x image (model-major order)."""
    opts = options(conf=conf, iou=iou, imgsz=imgsz)
    if not model_ids:
        raise Invalid("no model id given")
    if not files:
        raise Invalid("no image given")
    resolved = [(m, *resolve(ctx=ctx, model_id=m)) for m in model_ids]
    # header only (Invalid / TooLarge before anything travels); the replica decodes the bytes
    infos = [probe(data, max_decode_pixels=ctx.settings.max_image_pixels) for data in files]
    paths = [ctx.workspace.new_upload_path("infer", info.suffix) for info in infos]
    # the uploads are written while the models work; the answer waits for both, so its paths exist
    writing = asyncio.ensure_future(asyncio.to_thread(_store_all, ctx, paths, files))
    jobs = [(m, ctx.workspace.relative(path), predict_encoded(ctx=ctx, backend=b, model_key=k, data=data, opts=opts))
            for m, b, k in resolved for path, data in zip(paths, files, strict=True)]
    try:
        detections = await asyncio.gather(*(j[2] for j in jobs))
    finally:
        await writing
    return [{"model_id": m, "image_path": rel, "detections": d}
            for (m, rel, _), d in zip(jobs, detections, strict=True)]


def _store_all(ctx: Platform, paths: list[Any], files: list[bytes]) -> None:
    for path, data in zip(paths, files, strict=True):
        path.write_bytes(data)
    retention.maybe_sweep_uploads(ctx=ctx)


async def predict_encoded(
    *, ctx: Platform, backend: str, model_key: str, data: bytes, opts: dict[str, Any]
) -> list[dict[str, Any]]:
    """One encoded image (already probed) through a resolved model: the replica decodes it and
    answers with boxes in the image's own pixels."""
    handle = _handle(ctx, backend).options(multiplexed_model_id=model_key)
    _note_device(ctx, backend)
    return await _call(handle.predict.remote(data, opts))
