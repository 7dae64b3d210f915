"""/demo: demo projects built from generated data (raysight.demo_data), since nothing can be downloaded.
"download" generates the demo's images into the workspace as a tracked task whose progress reads like a
download (DownloadStatus XDDOWNLOADING -> XDDECOMPRESSED, progress 0-100); "load" imports them as a
dataset, splits it and creates a project bound to it."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from typing import Any

from raysight import demo_data
from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound
from raysight.services import tasks
from raysight.services.paddlex import datasets, projects
from raysight.services.paddlex.enums import DownloadStatus, project_type

GENERATED = ("classification", "detection")


def _dir(ctx: Platform, kind: str) -> Path:
    path = ctx.workspace.dialect_dir("paddlex") / "demo" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def _kind(prj_type: object) -> str:
    kind = project_type(prj_type, "prj_type")
    if kind not in GENERATED:
        raise Invalid(f"no demo can be generated for {kind} projects (demos exist for {list(GENERATED)})")
    return kind


def _state(ctx: Platform, kind: str) -> dict[str, Any] | None:
    file = _dir(ctx, kind) / "state.json"
    return json.loads(file.read_text()) if file.is_file() else None


def _generate(folder: Path, kind: str, progress: Any) -> None:
    archive = folder / "demo.zip"
    if kind == "detection":
        demo_data.write_yolo_zip(archive, 64, size=128, seed=0, classes=demo_data.DETECT_CLASSES)
    else:
        demo_data.write_classify_zip(archive, 20, classes=demo_data.CLASSIFY_CLASSES, size=64, seed=0)
    progress(0.8)
    target = folder / "data"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(target)  # our own archive, written just above
    archive.unlink()


def progress(*, ctx: Platform, prj_type: object) -> dict[str, Any]:
    """{"status": DownloadStatus, "progress": 0-100} of the demo's generation."""
    kind = _kind(prj_type)
    state = _state(ctx, kind)
    if state is None:
        raise NotFound(f"the {kind} demo has not been downloaded (POST /demo with type 'download')")
    task = tasks.get(ctx=ctx, task_id=state["task_id"])
    status = {"completed": DownloadStatus.XDDECOMPRESSED, "failed": DownloadStatus.XDDOWNLOADFAIL,
              "cancelled": DownloadStatus.XDDOWNLOADFAIL, "cancelling": DownloadStatus.XDDOWNLOADFAIL}.get(
        task["status"], DownloadStatus.XDDOWNLOADING)
    return {"status": int(status), "progress": round(100.0 * float(task["progress"] or 0), 1),
            "message": task["error"] or ""}


async def start(*, ctx: Platform, kind: object, prj_type: object) -> dict[str, Any]:
    """type 'download' generates the demo data (tracked task); 'load' builds its dataset and project."""
    name = _kind(prj_type)
    if kind == "download":
        folder = _dir(ctx, name)
        state = _state(ctx, name)
        if state is not None and tasks.get(ctx=ctx, task_id=state["task_id"])["status"] in ("pending", "running"):
            raise Conflict(f"the {name} demo is already being downloaded")
        ctx.workspace.remove(folder / "data")
        task_id = tasks.create(ctx=ctx, kind="paddlex_demo", params={"prj_type": name})
        (folder / "state.json").write_text(json.dumps({"task_id": task_id}))

        async def work(report: Any) -> dict[str, Any]:
            await asyncio.to_thread(_generate, folder, name, report)
            return {"path": str(folder / "data")}

        tasks.start(ctx=ctx, task_id=task_id, work=work)
        return {}
    if kind != "load":
        raise Invalid("type must be 'download' or 'load'")
    if progress(ctx=ctx, prj_type=name)["status"] != DownloadStatus.XDDECOMPRESSED:
        raise Conflict(f"the {name} demo is not downloaded yet")
    did = datasets.create(ctx=ctx, name=f"{name} demo", desc="generated demo data", dataset_type=name)["did"]
    rec = datasets.records.get(ctx=ctx, kind="dataset", code=did)
    work = datasets.prepare_import(ctx=ctx, rec=rec, source=_dir(ctx, name) / "data")
    await work(lambda _v: None)
    await datasets.split(ctx=ctx, did=did, val_split=0.2, test_split=0.1)
    pid = projects.create(ctx=ctx, name=f"{name} demo", desc="demo project on generated data", type=name)["pid"]
    projects.bind(ctx=ctx, pid=pid, did=did)
    return {"did": did, "pid": pid}


def stop(*, ctx: Platform, prj_type: object) -> dict[str, Any]:
    """Stop a running demo download (its status turns XDDOWNLOADFAIL)."""
    name = _kind(prj_type)
    state = _state(ctx, name)
    if state is None:
        raise NotFound(f"the {name} demo has not been downloaded")
    tasks.request_cancel(ctx=ctx, task_id=state["task_id"])
    return {}
