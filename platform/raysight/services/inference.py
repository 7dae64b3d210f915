"""Inference through the model deployments, reached through the Predictor port (`ctx.predictor`,
serving/predictor.py; Ray's failures arrive here as domain errors already).

Images are validated in the ingress (raysight.imaging). The native /infer routes send the upload's
encoded bytes to the replica, which decodes them (a JPEG is ~10-40x smaller than its pixels, and the
decode runs beside the model instead of in the ingress, measured in bench/serving.py); other callers send
decoded arrays. Either way images larger than imaging.MAX_INFER_PIXELS are downscaled before the model
sees them and their boxes scaled back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysight import defaults
from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Invalid, TooLarge, Unavailable, Unprocessable
from raysight.imaging import MAX_INFER_PIXELS, decode_sized, fit_pixels, probe, scale_boxes
from raysight.ports import Predictor
from raysight.services import models, retention

log = logging.getLogger(__name__)


def _predictor(ctx: Platform) -> Predictor:
    if ctx.predictor is None:
        raise Unavailable("no model deployments in this process (is the platform running under Ray Serve?)")
    return ctx.predictor


def options(*, conf: float = defaults.CONF, iou: float = defaults.IOU, imgsz: int | None = None) -> dict[str, Any]:
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
    return backend_name, key


async def call(*, ctx: Platform, backend: str, model_key: str, op: str, payload: dict[str, Any]) -> Any:
    """A family-specific operation (backend.run) on the replica that holds `model_key`."""
    return await _predictor(ctx).run(backend, model_key, op, payload)


async def predict_keyed(
    *, ctx: Platform, backend: str, model_key: str, image: np.ndarray, opts: dict[str, Any]
) -> list[dict[str, Any]]:
    """One image through a resolved model (batched on the replica with concurrent calls)."""
    small = fit_pixels(image, MAX_INFER_PIXELS)
    return _scaled_back(image, small, await _predictor(ctx).predict(backend, model_key, small, opts))


def _scaled_back(image: np.ndarray, fitted: np.ndarray, dets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Boxes found on `fitted` (fit_pixels of `image`) in `image`'s own pixels."""
    if fitted is not image:
        scale_boxes(dets, image.shape[1] / fitted.shape[1], image.shape[0] / fitted.shape[0])
    return dets


async def predict_group(
    *, ctx: Platform, backend: str, model_key: str, images: list[np.ndarray], opts: dict[str, Any]
) -> list[list[dict[str, Any]]]:
    """Several images through a resolved model in one call: one batch on one replica (video frames)."""
    small = [fit_pixels(image, MAX_INFER_PIXELS) for image in images]
    answers = await _predictor(ctx).predict_many(backend, model_key, small, opts)
    return [_scaled_back(image, fitted, dets) for image, fitted, dets in zip(images, small, answers, strict=True)]


async def predict_images(
    *,
    ctx: Platform,
    model_id: str,
    images: list[np.ndarray],
    conf: float = defaults.CONF,
    iou: float = defaults.IOU,
    imgsz: int | None = None,
) -> list[list[dict[str, Any]]]:
    """Detections (Detection.as_dict()) per RGB uint8 image, in order. Calls go out concurrently so
    that the replica's @serve.batch groups them."""
    opts = options(conf=conf, iou=iou, imgsz=imgsz)
    backend, key = resolve(ctx=ctx, model_id=model_id)
    return list(await asyncio.gather(*(
        predict_keyed(ctx=ctx, backend=backend, model_key=key, image=im, opts=opts) for im in images
    )))


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
    *, ctx: Platform, model_ids: list[str], files: list[bytes], conf: float = defaults.CONF, iou: float = defaults.IOU,
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
    return await _predictor(ctx).predict(backend, model_key, data, opts)
