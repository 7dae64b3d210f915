"""PaddleX projects (P0001...): a named piece of work of one project type, bound to one dataset, holding
tasks. The platform's own capability (the native /projects routes use it too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.services.paddlex import records
from raysight.services.paddlex.enums import project_type

KIND = "project"


def folder(ctx: Platform, pid: str) -> Path:
    path = ctx.workspace.dialect_dir("paddlex") / "projects" / pid
    path.mkdir(parents=True, exist_ok=True)
    return path


def attr_of(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    from raysight.services.paddlex import jobs

    tasks = records.list_of(ctx=ctx, kind="task", parent=rec["id"])
    return {"id": rec["id"], "name": rec["name"], "desc": rec["desc"], "type": rec["type"],
            "did": rec["attrs"].get("did"), "path": str(folder(ctx, rec["id"])),
            "create_time": rec["create_time"], "tasks": [int(jobs.status_of(ctx, t)) for t in tasks]}


def create(*, ctx: Platform, name: object, desc: object = "", type: object = None) -> dict[str, Any]:
    """A new project; `type` is a project type name or its ProjectType number."""
    kind = project_type(type)
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name is required")
    rec = records.create(ctx=ctx, kind=KIND, name=name.strip(), desc=str(desc or ""), type=kind,
                         attrs={"did": None})
    folder(ctx, rec["id"])
    return {"pid": rec["id"]}


def get(*, ctx: Platform, pid: object) -> dict[str, Any]:
    return attr_of(ctx, records.get(ctx=ctx, kind=KIND, code=pid))


def list_all(*, ctx: Platform) -> list[dict[str, Any]]:
    return [{"id": rec["id"], "attr": attr_of(ctx, rec)} for rec in records.list_of(ctx=ctx, kind=KIND)]


def bind(*, ctx: Platform, pid: str, did: object) -> None:
    """Bind a dataset of the project's type (its tasks train on it)."""
    project = records.get(ctx=ctx, kind=KIND, code=pid)
    dataset = records.get(ctx=ctx, kind="dataset", code=did)
    if dataset["type"] != project["type"]:
        raise Invalid(f"dataset '{dataset['id']}' is a {dataset['type']} dataset but project "
                      f"'{project['id']}' is a {project['type']} project")
    records.update(ctx=ctx, kind=KIND, code=project["id"], attrs={"did": dataset["id"]})


def delete(*, ctx: Platform, pid: object) -> None:
    """Delete the project and all its tasks (a task still training is stopped first)."""
    from raysight.services.paddlex import jobs

    rec = records.get(ctx=ctx, kind=KIND, code=pid)
    for task in records.list_of(ctx=ctx, kind="task", parent=rec["id"]):
        jobs.delete(ctx=ctx, tid=task["id"], force=True)
    if records.list_of(ctx=ctx, kind="task", parent=rec["id"]):
        raise Conflict(f"project '{rec['id']}' still has tasks")
    records.delete(ctx=ctx, kind=KIND, code=rec["id"])
    ctx.workspace.remove(folder(ctx, rec["id"]))
