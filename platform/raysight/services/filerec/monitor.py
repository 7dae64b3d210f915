"""Liveness of the two workers the filerec API depends on, from real checks:

- detect worker: the Serve deployment of the configured recognizer must answer (its replica facts,
  through the Predictor port) within PROBE_TIMEOUT_S;
- training worker: the training supervisor must answer (the JobRunner port's `probe` looks it up
  without creating a new one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from raysight.context import Platform
from raysight.errors import RaysightError
from raysight.services.filerec import parameters, recognizers

PROBE_TIMEOUT_S = 10.0


async def detect_worker(*, ctx: Platform) -> dict[str, Any]:
    """{"alive", "recognizer", "deployment", "reason" | replica info}."""
    choice = parameters.recognizer(ctx=ctx)
    out: dict[str, Any] = {"alive": False, "recognizer": choice["model_id"]}
    try:
        backend = recognizers.describe(ctx=ctx, recognizer=choice)["backend"]
    except RaysightError as exc:
        return {**out, "reason": f"the recognizer cannot be used: {exc.message}"}
    out["deployment"] = backend
    predictor = ctx.predictor
    if predictor is None or backend not in predictor.families():
        return {**out, "reason": f"no Serve deployment for '{backend}' (not running under Ray Serve)"}
    try:
        info = await asyncio.wait_for(predictor.info(backend), timeout=PROBE_TIMEOUT_S)
    except TimeoutError:
        return {**out, "reason": f"the '{backend}' deployment did not answer within {PROBE_TIMEOUT_S:.0f} s"}
    except RaysightError as exc:  # a deployment that is gone: it is not alive
        return {**out, "reason": f"the '{backend}' deployment did not answer: {exc.message}"}
    keep = ("backend", "device", "loaded_models", "max_batch_size", "num_gpus", "pid")
    return {**out, "alive": True, "replica": {k: info[k] for k in keep if k in info}}


def training_worker(*, ctx: Platform) -> dict[str, Any]:
    """{"alive", "supervisor", "running", "queued" | "reason"}."""
    trainer = ctx.job_runner
    if trainer is None:
        return {"alive": False, "reason": "no training supervisor is attached (not running under Ray)"}
    try:
        return dict(trainer.probe(timeout=PROBE_TIMEOUT_S))
    except Exception as exc:  # a failing probe is a liveness fact, not an error of this request
        return {"alive": False, "reason": f"{type(exc).__name__}: {exc}"}
