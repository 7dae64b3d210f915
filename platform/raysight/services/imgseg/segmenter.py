"""Who segments: the provider of the `segment_with_prompts` capability (SAM unless configured
otherwise) when its weights are there, else the classical region segmenter.

A provider refuses to serve a model without its weights file (WeightsMissing, code
"weights_missing"); that answer, and only that one, sends the request to services.imgseg.classical.
Every result carries ``segmenter`` ("sam-vit_t" ... or "classical-regions"); `describe` gives the
fields every imgseg payload adds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from raysight.backend import Backend
from raysight.capabilities import Capability, RunOp
from raysight.context import Platform
from raysight.errors import RaysightError, WeightsMissing
from raysight.rle import decode as decode_rle
from raysight.services.capabilities import provider as capability_provider
from raysight.services.imgseg import classical
from raysight.services.inference import call

WEIGHTS_MISSING = WeightsMissing.code


def provider(ctx: Platform) -> Backend:
    """The backend that segments with prompts here."""
    return capability_provider(ctx, Capability.SEGMENT_WITH_PROMPTS)


def model_key(ctx: Platform, model_type: str | None = None) -> str:
    """The segmenter's built-in model of `model_type` (its default one when None)."""
    return provider(ctx).builtin_key(model_type)


async def run(*, ctx: Platform, key: str | None, op: RunOp, payload: dict[str, Any]) -> Any:
    """One `segment_with_prompts` operation on the segmenter's model `key` (None: its default)."""
    backend = provider(ctx)
    return await call(ctx=ctx, backend=backend.name, model_key=key or backend.builtin_key(), op=str(op),
                      payload=payload)


def _sam(res: dict[str, Any]) -> dict[str, Any]:
    res.setdefault("segmenter", f"sam-{res.get('model_type', 'unknown')}")
    return res


def _classical(res: dict[str, Any], exc: RaysightError) -> dict[str, Any]:
    res.update(weights="missing", note=f"{exc.message}; answered by the classical region segmenter")
    return res


async def prompt(*, ctx: Platform, key: str | None, image: np.ndarray, points: list, labels: list, boxes: list,
                 masks: bool) -> dict[str, Any]:
    """Masks for a point / box prompt (full-size masks when `masks`, else boxes and scores)."""
    payload: dict[str, Any] = {"image": image, "return_masks": masks}
    if points:
        payload.update(points=points, labels=labels)
    if boxes:
        payload["boxes"] = boxes
    try:
        return _sam(await run(ctx=ctx, key=key, op=RunOp.PROMPT, payload=payload))
    except RaysightError as exc:
        if exc.code != WEIGHTS_MISSING:
            raise
        return _classical(await asyncio.to_thread(classical.prompt, image, points, labels, boxes), exc)


async def auto(*, ctx: Platform, key: str | None, image: np.ndarray, points_per_side: int | None) -> dict[str, Any]:
    """Automatic segmentation: SAM's point grid, or every classical region."""
    try:
        return _sam(await run(ctx=ctx, key=key, op=RunOp.AUTO_MASKS,
                              payload={"image": image, "points_per_side": points_per_side}))
    except RaysightError as exc:
        if exc.code != WEIGHTS_MISSING:
            raise
        return _classical(await asyncio.to_thread(classical.auto, image), exc)


def mask_of(m: dict[str, Any]) -> np.ndarray:
    """The full-size boolean mask of one answer of `prompt(masks=True)`."""
    return m["mask"] if "mask" in m else decode_rle(m["rle"])


def describe(res: dict[str, Any]) -> dict[str, Any]:
    """The fields a payload adds to say who answered: segmenter, weights, model_type or note."""
    out = {"segmenter": res["segmenter"], "weights": res.get("weights", "trained")}
    for name in ("model_type", "note"):
        if res.get(name):
            out[name] = res[name]
    return out
