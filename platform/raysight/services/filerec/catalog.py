"""Models and datasets as the filerec dialect manages them, over the core's registry and datasets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.services import datasets, models, tasks, training
from raysight.services.capabilities import provider
from raysight.services.filerec import parameters
from raysight.services.filerec.recognition import KIND
from raysight.workspace import clean_filename

# The family an uploaded weights file belongs to when the client does not name one: the provider of the
# detector (ultralytics checkpoints are .pt) or of the classifier (the platform's ResNet files are .pth).
CAPABILITY_BY_SUFFIX = {".pt": Capability.DETECT, ".pth": Capability.CLASSIFY}


def list_models(*, ctx: Platform) -> dict[str, Any]:
    out = models.list_models(ctx=ctx)
    return {**out, "total": len(out["models"])}


def list_datasets(*, ctx: Platform) -> dict[str, Any]:
    out = datasets.list_datasets(ctx=ctx)
    return {**out, "total": len(out["datasets"])}


async def upload_model(*, ctx: Platform, filename: str, read: Callable[[int], Awaitable[bytes]],
                       plugin: str | None = None, name: str | None = None,
                       classes: list[str] | None = None) -> dict[str, Any]:
    """Register a weights file through the core's model upload (which validates it for its family)."""
    family = (plugin or "").strip()
    capability = CAPABILITY_BY_SUFFIX.get(Path(clean_filename(filename)).suffix.lower())
    if not family and capability is not None:
        family = provider(ctx, capability).name
    if not family:
        raise Invalid("the model file must be a .pt or .pth file (or name its family in the field 'plugin')")
    return await models.upload(ctx=ctx, filename=filename, read=read, plugin=family, name=name,
                               classes=classes, description="uploaded through the filerec API")


async def upload_dataset(*, ctx: Platform, filename: str, read: Callable[[int], Awaitable[bytes]]) -> dict[str, Any]:
    """Upload a dataset archive and import it (prepare version v1). An archive the import cannot
    recognise is removed again and the import's reason is the error."""
    uploaded = await datasets.upload(ctx=ctx, filename=filename, read=read)
    dataset_id = uploaded["dataset_id"]
    try:
        await asyncio.to_thread(datasets.prepare, ctx=ctx, dataset_id=dataset_id)
    except BaseException:
        datasets.delete_dataset(ctx=ctx, dataset_id=dataset_id)
        raise
    return datasets.get_dataset(ctx=ctx, dataset_id=dataset_id)


def delete_dataset(*, ctx: Platform, dataset_id: str) -> dict[str, Any]:
    """Conflict while a training job uses it (the core's rule) or it is the set training dataset."""
    if parameters.load(ctx=ctx)["training"].get("dataset_id") == dataset_id:
        datasets.get_dataset(ctx=ctx, dataset_id=dataset_id)
        raise Conflict(f"dataset '{dataset_id}' is the training dataset set by set_parameters; set another first")
    datasets.delete_dataset(ctx=ctx, dataset_id=dataset_id)
    return {"dataset_id": dataset_id}


async def delete_model(*, ctx: Platform, model_id: str) -> dict[str, Any]:
    """Conflict while the model is in use: the configured recognizer, the recognizer of a pending or
    running recognition task, or the base of a queued or running training job."""
    models.get(ctx=ctx, model_id=model_id)
    params = parameters.load(ctx=ctx)
    if params["recognizer"].get("model_id") == model_id:
        raise Conflict(f"model '{model_id}' is the recognizer in use; set another with set_parameters first")
    if params["training"].get("base_model_id") == model_id:
        raise Conflict(f"model '{model_id}' is the base model set for training; set another first")
    for task in tasks.list_tasks(ctx=ctx, kind=KIND, statuses=(tasks.PENDING, tasks.RUNNING, tasks.CANCELLING)):
        if (task["params"].get("recognizer") or {}).get("model_id") == model_id:
            raise Conflict(f"model '{model_id}' is used by recognition task '{task['task_id']}'")
    for job in training.list_jobs(ctx=ctx)["jobs"]:
        if job.get("base_model_id") == model_id and job.get("status") in training.ACTIVE:
            raise Conflict(f"model '{model_id}' is the base of training job '{job['job_id']}'")
    await models.delete(ctx=ctx, model_id=model_id)
    return {"model_id": model_id}
