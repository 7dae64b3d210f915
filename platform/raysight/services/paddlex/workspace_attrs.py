"""GET/PUT /workspace: attributes of the dialect's datasets, projects, tasks and models by id."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services.paddlex import datasets, jobs, model_records, projects, records

STRUCTS = ("dataset", "project", "task", "pretrained_model", "exported_model")
EDITABLE = {"name", "desc"}


def _attrs(ctx: Platform, struct: str, code: object) -> dict[str, Any]:
    if struct == "dataset":
        return datasets.get(ctx=ctx, did=code)["attr"] | {"dataset_status": datasets.get(ctx=ctx, did=code)[
            "dataset_status"]}
    if struct == "project":
        return projects.get(ctx=ctx, pid=code)
    if struct == "task":
        return jobs.attr_of(ctx, records.get(ctx=ctx, kind="task", code=code))
    return model_records.attr_of(ctx, records.get(ctx=ctx, kind=struct.split("_")[0], code=code))


def get(*, ctx: Platform, struct: object, code: object, attr_list: object) -> dict[str, Any]:
    """{"dirname"} without arguments; else {"attr": {name: value}} for the asked attributes."""
    if struct is None and code is None:
        return {"dirname": str(ctx.workspace.dialect_dir("paddlex")), "workspace": summary(ctx)}
    if struct not in STRUCTS:
        raise Invalid(f"struct must be one of {list(STRUCTS)}")
    found = _attrs(ctx, str(struct), code)
    if attr_list is None:
        return {"attr": found}
    if not isinstance(attr_list, list) or not all(isinstance(a, str) for a in attr_list):
        raise Invalid("attr_list must be a list of attribute names")
    unknown = [a for a in attr_list if a not in found]
    if unknown:
        raise Invalid(f"unknown attributes of a {struct}: {unknown} (known: {sorted(found)})")
    return {"attr": {a: found[a] for a in attr_list}}


def put(*, ctx: Platform, struct: object, code: object, attr_dict: object) -> None:
    """Change name/desc of any structure; `did` of a project binds a dataset to it."""
    if struct not in STRUCTS:
        raise Invalid(f"struct must be one of {list(STRUCTS)}")
    if not isinstance(attr_dict, dict) or not attr_dict:
        raise Invalid("attr_dict must be an object of attributes to change")
    allowed = EDITABLE | ({"did"} if struct == "project" else set())
    unknown = sorted(set(attr_dict) - allowed)
    if unknown:
        raise Invalid(f"attributes {unknown} of a {struct} cannot be changed (changeable: {sorted(allowed)})")
    kind = str(struct).split("_")[0]
    rec = records.get(ctx=ctx, kind=kind, code=code)
    if "did" in attr_dict:
        projects.bind(ctx=ctx, pid=rec["id"], did=attr_dict["did"])
    fields = {k: str(v) for k, v in attr_dict.items() if k in EDITABLE}
    if fields:
        records.update(ctx=ctx, kind=kind, code=rec["id"], **fields)


# the fields of each record in the Workspace structure (paddlex-status-codes.md, "Structured records")
_MODEL_FIELDS = ("id", "name", "model", "type", "pid", "tid", "create_time", "path")
RECORD_FIELDS = {
    "dataset": ("id", "name", "desc", "type", "path", "create_time"),
    "project": ("id", "name", "desc", "type", "did", "path", "create_time"),
    "task": ("id", "name", "desc", "pid", "path", "create_time", "parent_id"),
    "pretrained": _MODEL_FIELDS,
    "exported": (*_MODEL_FIELDS, "exported_type"),
}


def summary(ctx: Platform) -> dict[str, Any]:
    """The Workspace structure of paddlex-status-codes.md: version, path and id -> record maps, each
    record with the documented fields of its kind."""
    from raysight import __version__

    attr_of = {"dataset": datasets.attr_of, "project": projects.attr_of, "task": jobs.attr_of,
               "pretrained": model_records.attr_of, "exported": model_records.attr_of}

    def recs(kind: str) -> dict[str, Any]:
        found = {}
        for rec in records.list_of(ctx=ctx, kind=kind):
            attrs = attr_of[kind](ctx, rec)
            found[rec["id"]] = {name: attrs.get(name) for name in RECORD_FIELDS[kind]}
        return found

    return {"version": __version__, "path": str(ctx.workspace.dialect_dir("paddlex")), "datasets": recs("dataset"),
            "projects": recs("project"), "tasks": recs("task"), "pretrained_models": recs("pretrained"),
            "exported_models": recs("exported")}
