"""Recognition tasks: a package (zip) of files, each read by the configured recognizer.

A task is a record of services.tasks (kind "filerec"); its files lie in tasks/<task_id>/files/. The
work loop handles one file (one PDF page) at a time, writes every file's outcome into the record as
it goes (progress per file), and checks the record's cancel flag between files and pages, so a
cancel stops real work in any process. Files that are neither images nor PDFs are reported as
`unsupported` with the reason; unreadable ones as `failed`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, RaysightError, Timeout, Unavailable
from raysight.ids import random_id
from raysight.services import tasks
from raysight.services.filerec import documents, parameters, recognizers
from raysight.workspace import check_id, check_zip, clean_filename, extract_zip, save_stream

KIND = "filerec"
PENDING, RUNNING, DONE, UNSUPPORTED, FAILED = "pending", "running", "done", "unsupported", "failed"
UNSUPPORTED_REASON = "not an image (jpg, png, bmp, webp) or a PDF"


def files_dir(ctx: Platform, task_id: str) -> Path:
    return ctx.workspace.task_dir(task_id) / "files"


def _list_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


async def upload_package(*, ctx: Platform, filename: str, read: Callable[[int], Awaitable[bytes]],
                         task_id: str | None = None) -> dict[str, Any]:
    """Store and unpack a zip (the workspace's upload and archive limits; unsafe archives are refused
    whole), then start a recognition task over its files. Returns {"task_id", "files"}."""
    settings = ctx.settings
    task_id = _new_task_id(ctx, task_id)
    recognizer = recognizers.describe(ctx=ctx, recognizer=parameters.recognizer(ctx=ctx))
    folder = ctx.workspace.task_dir(task_id)
    staging = ctx.workspace.staging("filerec")
    try:
        archive = staging / "package.zip"
        await save_stream(read, archive, max_bytes=settings.max_upload_bytes)
        await asyncio.to_thread(check_zip, archive, max_bytes=settings.max_extract_bytes,
                                max_files=settings.max_extract_files)
        folder.mkdir(parents=True)
        await asyncio.to_thread(extract_zip, archive, folder / "files", max_bytes=settings.max_extract_bytes,
                                max_files=settings.max_extract_files)
        names = _list_files(folder / "files")
        if not names:
            raise Invalid("the package holds no files")
    except BaseException:
        if folder.exists():
            ctx.workspace.remove(folder)
        raise
    finally:
        ctx.workspace.remove(staging)
    return _start(ctx, task_id, names, recognizer, package=clean_filename(filename, "package.zip"))


async def add_task(*, ctx: Platform, task_id: str | None = None, package_task_id: str | None = None,
                   model_id: str | None = None) -> dict[str, Any]:
    """A new recognition task over the files of an earlier package (`package_task_id`, default the
    newest task that has files), optionally with another recognizer than the configured one."""
    source = package_task_id or next(
        (t["task_id"] for t in tasks.list_tasks(ctx=ctx, kind=KIND) if files_dir(ctx, t["task_id"]).is_dir()), None)
    if source is None:
        raise NotFound("no package has been uploaded yet (POST /upload_package first)")
    src = files_dir(ctx, check_id(str(source), "task"))
    tasks.get(ctx=ctx, task_id=source, kind=KIND)
    if not src.is_dir():
        raise NotFound(f"task '{source}' has no package files")
    choice = parameters.recognizer(ctx=ctx)
    if model_id is not None:
        choice["model_id"] = parameters.check_recognizer(ctx=ctx, model_id=model_id)
    recognizer = recognizers.describe(ctx=ctx, recognizer=choice)
    task_id = _new_task_id(ctx, task_id)
    dest = files_dir(ctx, task_id)
    try:
        await asyncio.to_thread(shutil.copytree, src, dest)
    except BaseException:
        ctx.workspace.remove(dest.parent)
        raise
    package = tasks.get(ctx=ctx, task_id=source)["params"].get("package")
    return _start(ctx, task_id, _list_files(dest), recognizer, package=package, source=source)


def _new_task_id(ctx: Platform, task_id: str | None) -> str:
    if not task_id:
        return random_id(KIND)
    check_id(str(task_id), "task")
    try:
        tasks.get(ctx=ctx, task_id=task_id)
    except NotFound:
        if not ctx.workspace.task_dir(task_id).exists():
            return str(task_id)
    raise Conflict(f"task '{task_id}' already exists")


def _start(ctx: Platform, task_id: str, names: list[str], recognizer: dict[str, Any], *, package: str | None,
           source: str | None = None) -> dict[str, Any]:
    params = {"package": package, "recognizer": recognizer, "files": len(names), "source_task_id": source}
    tasks.create(ctx=ctx, kind=KIND, task_id=task_id, params=params)
    entries = [{"file": name, "status": PENDING} for name in names]
    tasks.update(ctx=ctx, task_id=task_id, result={"files": entries})

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        return await _run(ctx, task_id, entries, recognizer, progress)

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return {"task_id": task_id, "files": len(names), "recognizer": recognizer["model_id"]}


def _check_cancel(ctx: Platform, task_id: str) -> None:
    if tasks.cancel_requested(ctx=ctx, task_id=task_id):
        raise asyncio.CancelledError


async def _run(ctx: Platform, task_id: str, entries: list[dict[str, Any]], recognizer: dict[str, Any],
               progress: Callable[[float], None]) -> dict[str, Any]:
    root = files_dir(ctx, task_id)
    total = len(entries)
    for index, entry in enumerate(entries):
        _check_cancel(ctx, task_id)

        def saved(fraction: float, index: int = index) -> None:
            tasks.update(ctx=ctx, task_id=task_id, result={"files": entries})
            progress((index + fraction) / total)

        try:
            await _read_file(ctx, task_id, root / entry["file"], entry, recognizer, saved)
        except (asyncio.CancelledError, Unavailable, Timeout):
            # cancelled, or the recognizer is down (the task fails): this file and those after it
            # are reported pending
            entry["status"] = PENDING
            entry.pop("pages", None)
            saved(0.0)
            raise
        except RaysightError as exc:
            entry.update(status=FAILED, reason=exc.message)
        saved(1.0)
    return {"files": entries}


async def _read_file(ctx: Platform, task_id: str, path: Path, entry: dict[str, Any], recognizer: dict[str, Any],
                     saved: Callable[[float], None]) -> None:
    kind = await asyncio.to_thread(documents.kind_of, path)
    entry["type"] = kind
    if kind == documents.OTHER:
        entry.update(status=UNSUPPORTED, reason=UNSUPPORTED_REASON)
        return
    entry["status"] = RUNNING
    if kind == documents.IMAGE:
        page = await asyncio.to_thread(documents.image_page, path,
                                         max_decode_pixels=ctx.settings.max_image_pixels)
        entry["pages"] = [await recognizers.read_page(ctx=ctx, recognizer=recognizer, page=page)]
    else:
        count = await asyncio.to_thread(documents.pdf_page_count, path)
        if count == 0:
            raise Invalid("the PDF has no pages")
        entry.update(page_count=count, pages=[])
        indexes = list(documents.page_indexes(count))
        for done, index in enumerate(indexes):
            _check_cancel(ctx, task_id)
            page = await asyncio.to_thread(documents.render_pdf_page, path, index)
            entry["pages"].append(await recognizers.read_page(ctx=ctx, recognizer=recognizer, page=page))
            saved((done + 1) / len(indexes) * 0.99)
        if len(indexes) < count:
            entry["truncated"] = f"only the first {len(indexes)} of {count} pages were read"
    if recognizer["kind"] == "ocr":
        entry["text"] = "\n\n".join(p["text"] for p in entry["pages"] if p["text"])
    entry["status"] = DONE


# -- views ---------------------------------------------------------------------------------------------
def _summary_entry(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: entry[k] for k in ("file", "type", "status", "reason", "text", "page_count") if k in entry}
    if "pages" in entry and "text" not in entry:
        out["labels"] = sorted({d.get("class_name") for p in entry["pages"] for d in p.get("predictions", [])} - {None})
    return out


def view(task: dict[str, Any], *, details: bool = True) -> dict[str, Any]:
    """A task as the dialect shows it: status, progress, per-file outcome (with pages if `details`)."""
    entries = (task.get("result") or {}).get("files") or []
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    params = task.get("params") or {}
    return {
        "task_id": task["task_id"], "task_type": "recognition", "status": task["status"],
        "progress": round(task["progress"] or 0.0, 4),
        "error": task["error"], "package": params.get("package"),
        "recognizer": (params.get("recognizer") or {}).get("model_id"),
        "total": len(entries), "processed": sum(n for s, n in counts.items() if s not in (PENDING, RUNNING)),
        "file_status": counts, "created_at": task["created_at"], "updated_at": task["updated_at"],
        "files": entries if details else [_summary_entry(e) for e in entries],
    }


def result(*, ctx: Platform, task_id: str | None = None) -> dict[str, Any]:
    """detect/result: the task (default the newest) with `result` = a JSON string of the per-file
    summary (file, status, text or labels, reason) and `files` = the full per-page detail."""
    if task_id:
        task = tasks.get(ctx=ctx, task_id=str(task_id), kind=KIND)
    else:
        listed = tasks.list_tasks(ctx=ctx, kind=KIND)
        if not listed:
            raise NotFound("no recognition task yet (POST /upload_package first)")
        task = listed[0]
    out = view(task)
    out["result"] = json.dumps([_summary_entry(e) for e in out["files"]], ensure_ascii=False)
    return out
