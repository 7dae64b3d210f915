"""AutoSele data selection: /sam_value + /auto_sam (random sampling), /sele_value + /auto_sele
(model-driven selection), thin translations onto services.selection.

`ratio` is the number of images to pick (a fraction of the pool when between 0 and 1), `track_file` /
`task_file` the pool (a folder or a list file), `weights_dir` the registered model's id, `strategy`
(our addition) least_confidence, margin or entropy (default entropy). `gpus` is recorded: placement
belongs to the model deployments' configuration.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import Params, read_params
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.errors import Invalid, NotFound
from raysight.services import selection, tasks

router = APIRouter(tags=["autosele"], route_class=AutoseleRoute)
DETAIL = ("output_dir", "gpus", "sele_ratio", "weights_dir", "track_file", "task_file", "isshuffle")


def _pool(p: Params) -> str:
    """track_file or task_file (one is enough; track_file wins when both are given)."""
    found = p.text("track_file", required=False) or p.text("task_file", required=False)
    if not found:
        raise Invalid("track_file or task_file is required")
    return found


def _record(p: Params, task_type: str, *, isshuffle: str | None = None) -> dict[str, Any]:
    """The task's documented fields as sent; `isshuffle`: what the task applies, where it has a default."""
    return {"task_type": task_type, "output_dir": p.text("output_dir", required=False) or "",
            "gpus": p.text("gpus", required=False) or "", "sele_ratio": p.text("ratio", required=False) or "",
            "weights_dir": p.text("weights_dir", required=False) or "",
            "track_file": p.text("track_file", required=False) or "",
            "task_file": p.text("task_file", required=False) or "",
            "isshuffle": isshuffle if isshuffle is not None else p.text("isshuffle", required=False) or "0"}


def detail(record: dict[str, Any]) -> dict[str, Any]:
    """The documented task fields (task_id, task_type, output_dir, gpus, sele_ratio, weights_dir,
    track_file, task_file, isshuffle, status) plus progress (0..1), result and error."""
    params = record["params"]
    return {"task_id": record["task_id"], "task_type": params.get("task_type", record["kind"]),
            **{k: params.get(k, "") for k in DETAIL}, "status": record["status"],
            "progress": record["progress"], "result": record["result"], "error": record["error"]}


def _one_or_all(ctx: Platform, p: Params, kind: str) -> Any:
    task_id = p.text("task_id", required=False)
    if task_id is None:
        return [detail(r) for r in tasks.list_tasks(ctx=ctx, kind=kind)]
    record = selection.get(ctx=ctx, task_id=task_id)
    if record["kind"] != kind:
        raise NotFound(f"task '{task_id}' not found")
    return detail(record)


@router.post("/sam_value")
async def sam_value(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Random sampling of `ratio` images of the pool into output_dir; data: the task id."""
    p = await read_params(request)
    shuffle = p.flag("isshuffle", default=True)
    task_id = selection.start_random(ctx=ctx, pool=_pool(p), output_dir=p.text("output_dir"), count=p.text("ratio"),
                                     shuffle=shuffle, params=_record(p, "random", isshuffle=str(int(shuffle))))
    return ok(task_id)


@router.post("/auto_sam")
async def auto_sam(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """A random-sampling task's record (every one, newest first, without task_id)."""
    return ok(_one_or_all(ctx, await read_params(request), selection.RANDOM))


@router.post("/sele_value")
async def sele_value(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Model-driven selection of the `ratio` images the model is least sure of; data: the task id."""
    p = await read_params(request)
    task_id = selection.start_uncertainty(
        ctx=ctx, model_id=p.text("weights_dir"), pool=_pool(p), output_dir=p.text("output_dir"),
        count=p.text("ratio"), strategy=p.text("strategy", required=False),
        shuffle=p.flag("isshuffle"), params=_record(p, "uncertainty"))
    return ok(task_id)


@router.post("/auto_sele")
async def auto_sele(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """A model-driven selection task's record (every one, newest first, without task_id)."""
    return ok(_one_or_all(ctx, await read_params(request), selection.UNCERTAINTY))
