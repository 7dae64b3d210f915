"""/model: the dialect's model records. A pretrained record (PM0001) is a task's trained model (a core
registry model) saved under a name; an exported record (EM0001) names an exported inference (ONNX) or lite
(int8 ONNX) model of a task. GET /model is `get_models`, a plain function the root dispatcher calls too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.import_roots import resolve_server_path
from raysight.services import models as core_models
from raysight.services.paddlex import datasets, jobs, records
from raysight.services.paddlex.enums import PretrainedModelStatus

TYPES = ("pretrained", "exported")


def attr_of(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    a = rec["attrs"]
    out = {"id": rec["id"], "name": rec["name"], "model": a.get("model"), "type": rec["type"], "pid": a.get("pid"),
           "tid": a.get("tid"), "create_time": rec["create_time"], "path": a.get("path")}
    if rec["kind"] == "exported":
        out["exported_type"] = a.get("exported_type")
    else:
        out["status"] = a.get("status")
    return out


def _inside_workspace(ctx: Platform, raw: object, what: str) -> Path:
    """An existing path inside the workspace, or under RAYSIGHT_IMPORT_ROOTS (where exports may be saved)."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(f"{what} is required")
    path = Path(raw).resolve()
    if path.is_relative_to(ctx.workspace.root):
        if not path.exists():
            raise Invalid(f"{what} '{raw}' does not exist")
        return path
    return resolve_server_path(ctx.settings, raw, what=what)


def create(*, ctx: Platform, pid: str, tid: str, name: str, type: str, source_path: str | None = None,
           path: str | None = None, exported_type: int | None = None,
           eval_results: dict[str, Any] | None = None) -> dict[str, Any]:
    if type not in TYPES:
        raise Invalid(f"type must be one of {list(TYPES)}")
    task, model_id = jobs.trained_model(ctx, tid)
    if task["parent"] != pid:
        raise Invalid(f"task '{task['id']}' does not belong to project '{pid}'")
    model = core_models.get(ctx=ctx, model_id=model_id)
    train = task["attrs"].get("train") or {}
    common = {"pid": pid, "tid": task["id"], "model": train.get("model") or model["name"], "model_id": model_id}
    if type == "pretrained":
        where = _inside_workspace(ctx, source_path, "source_path") if source_path else \
            Path(model["weights_path"]).parent
        rec = records.create(ctx=ctx, kind="pretrained", name=name, type=task["type"], ref=model_id,
                             attrs={**common, "path": str(where), "status": int(PretrainedModelStatus.XPSAVEDONE),
                                    "eval_results": eval_results or model["metrics"]})
        return {"pmid": rec["id"]}
    if exported_type not in (0, 1):
        raise Invalid("exported_type must be 0 (inference) or 1 (lite)")
    where = _inside_workspace(ctx, path, "path")
    rec = records.create(ctx=ctx, kind="exported", name=name, type=task["type"], ref=model_id,
                         attrs={**common, "path": str(where), "exported_type": exported_type})
    return {"emid": rec["id"]}


def _detail(ctx: Platform, mid: str) -> dict[str, Any]:
    kind = "exported" if mid.startswith("EM") else "pretrained"
    rec = records.get(ctx=ctx, kind=kind, code=mid)
    task = records.get(ctx=ctx, kind="task", code=rec["attrs"]["tid"]) if _exists(ctx, rec["attrs"]["tid"]) \
        else None
    project = records.get(ctx=ctx, kind="project", code=rec["attrs"]["pid"]) if task else None
    did = (project or {}).get("attrs", {}).get("did")
    dataset_attr = datasets.get(ctx=ctx, did=did)["attr"] if did and _exists(ctx, did) else {}
    eval_result = rec["attrs"].get("eval_results") or {}
    if not eval_result and rec["ref"]:
        eval_result = core_models.get(ctx=ctx, model_id=rec["ref"])["metrics"]
    return {"dataset_attr": dataset_attr, "task_params": (task or {}).get("attrs", {}).get("train") or {},
            "eval_result": eval_result, "attr": attr_of(ctx, rec)}


def _exists(ctx: Platform, code: str) -> bool:
    with ctx.db.session() as s:
        from raysight.store.models import PaddlexRecord

        return s.get(PaddlexRecord, code) is not None


def get_models(*, ctx: Platform, mid: object = None, type: object = None) -> dict[str, Any]:
    """With `mid` one model's dataset attributes, task parameters and evaluation; with `type` the models of
    that kind; with neither both lists."""
    if mid is not None:
        if not isinstance(mid, str):
            raise Invalid("mid must be a model id (PM0001 / EM0001)")
        return _detail(ctx, mid)
    if type is not None and type not in TYPES:
        raise Invalid(f"type must be one of {list(TYPES)}")
    out: dict[str, Any] = {}
    if type in (None, "pretrained"):
        out["pretrained_models"] = [attr_of(ctx, r) for r in records.list_of(ctx=ctx, kind="pretrained")]
    if type in (None, "exported"):
        out["exported_models"] = [attr_of(ctx, r) for r in records.list_of(ctx=ctx, kind="exported")]
    return out


def delete(*, ctx: Platform, type: str, pmid: str | None = None, emid: str | None = None) -> None:
    """Delete the record (the task's registered model and exported files stay with the task)."""
    if type not in TYPES:
        raise Invalid(f"type must be one of {list(TYPES)}")
    code = pmid if type == "pretrained" else emid
    if not code:
        raise Invalid(f"{'pmid' if type == 'pretrained' else 'emid'} is required")
    records.delete(ctx=ctx, kind=type, code=code)
