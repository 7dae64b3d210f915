"""AutoSele data: source folders under the import roots (/data), generated data versions
(/create_data, /sour_datas, /data_history).

/create_data copies a source folder (any layout the core recognises: YOLO, COCO, VOC, class folders)
into a new core dataset with `thread` copy workers, then prepares version v1 split train/val/test.
The work runs as a tracked task (kind "autosele_data") whose id is the data record's task_id.
"""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, TooLarge
from raysight.ids import timestamped_id
from raysight.import_roots import resolve_server_path
from raysight.services import datasets, tasks
from raysight.services.autosele.common import check_name, data_row, stamp
from raysight.store.models import AutoseleData, Dataset

KIND = "autosele_data"
MAX_THREADS = 64


def sources(*, ctx: Platform) -> list[str]:
    """Folders a data version can be made from: the sub-folders of the first import root by name
    (resolve_server_path takes a bare name there), those of further roots by absolute path."""
    found: list[str] = []
    for i, root in enumerate(ctx.settings.import_root_list):
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.is_symlink() and not child.name.startswith("."):
                found.append(child.name if i == 0 else str(child))
    return found


def _split(train: float, val: float, test: float) -> dict[str, float]:
    """The three ratios scaled to sum to 1 (the document's own example sends 0.85 / 0.1 / 0.1)."""
    if min(train, val, test) < 0:
        raise Invalid("train, val and test must not be negative")
    if train <= 0:
        raise Invalid("train must be greater than 0")
    total = train + val + test
    return {"train": train / total, "val": val / total, "test": test / total}


def _files(source: Path, *, max_files: int, max_bytes: int) -> list[Path]:
    """Every regular file under `source` (symlinks are not followed), within the extract caps."""
    files, size = [], 0
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or not path.is_file() or any(p.startswith(".") for p in path.relative_to(source).parts):
            continue
        files.append(path)
        size += path.stat().st_size
        if len(files) > max_files:
            raise TooLarge(f"the source folder holds more than {max_files} files (RAYSIGHT_MAX_EXTRACT_FILES)")
        if size > max_bytes:
            raise TooLarge("the source folder is larger than RAYSIGHT_MAX_EXTRACT_MB")
    return files


async def create(*, ctx: Platform, data_name: str, sour_data: str | None, thread: int, train: float, val: float,
                 test: float, data_desc: str = "", data_type: str | None = None, l_value: bool = False) -> str:
    """Record a data version and start building it; returns the task_id that /data_history follows."""
    task_id, source, dataset_id, name, ratio = await asyncio.to_thread(
        _record_new, ctx, data_name, sour_data, thread, train, val, test, data_desc, data_type, l_value)

    async def work(progress: Any) -> dict[str, Any]:
        return await asyncio.to_thread(_build, ctx, source, dataset_id, name, ratio, thread, progress)

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


def _record_new(ctx: Platform, data_name: str, sour_data: str | None, thread: int, train: float, val: float,
                test: float, data_desc: str, data_type: str | None,
                l_value: bool) -> tuple[str, Path, str, str, dict[str, float]]:
    name = check_name(data_name, "data_name")
    if not 1 <= thread <= MAX_THREADS:
        raise Invalid(f"thread must be an integer in [1, {MAX_THREADS}]")
    ratio = _split(train, val, test)
    source = resolve_server_path(ctx.settings, sour_data, want_dir=True, what="sour_data")
    if not source.is_dir():
        raise Invalid(f"sour_data '{sour_data}' is not a folder")
    task_id = timestamped_id("data")
    dataset_id = datasets.new_id("ds")
    with ctx.db.session() as s:
        if s.scalar(select(AutoseleData.id).where(AutoseleData.data_name == name)) is not None:
            raise Conflict(f"data named '{name}' already exists")
        s.add(Dataset(id=dataset_id, filename=name, size=0, status="uploaded", description=data_desc or "",
                      tags=["autosele"]))
        s.add(AutoseleData(task_id=task_id, data_name=name, data_describe=data_desc or "",
                           data_type=data_type or "all", sour_data=str(sour_data), train=train, val=val, test=test,
                           thread=thread, l_value=int(l_value), dataset_id=dataset_id))
    tasks.create(ctx=ctx, kind=KIND, task_id=task_id, params={"data_name": name, "dataset_id": dataset_id})
    return task_id, source, dataset_id, name, ratio


def _build(ctx: Platform, source: Path, dataset_id: str, name: str, ratio: dict[str, float], thread: int,
           progress: Any) -> dict[str, Any]:
    settings = ctx.settings
    files = _files(source, max_files=settings.max_extract_files, max_bytes=settings.max_extract_bytes)
    if not files:
        raise Invalid(f"the source folder of '{name}' holds no files")
    raw = ctx.workspace.dataset_raw(dataset_id)
    raw.mkdir(parents=True, exist_ok=True)
    done = 0

    def copy(path: Path) -> None:
        dest = raw / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)

    with ThreadPoolExecutor(max_workers=thread, thread_name_prefix="autosele-copy") as pool:
        for _ in pool.map(copy, files):
            done += 1
            if done % 50 == 0 or done == len(files):
                progress(0.8 * done / len(files))
    with ctx.db.session() as s:
        row = s.get(Dataset, dataset_id)
        if row is not None:
            row.size = sum(p.stat().st_size for p in files)
    result = datasets.prepare(ctx=ctx, dataset_id=dataset_id, split_ratio=ratio)
    with ctx.db.session() as s:
        data_row(s, name).version = result["version"]
    return {k: result[k] for k in ("dataset_id", "version", "classes", "train_count", "val_count", "test_count",
                                   "format", "task_type", "skipped")}


def _record(row: AutoseleData, task: dict[str, Any] | None) -> dict[str, Any]:
    status = task["status"] if task else "unknown"
    return {"id": row.id, "task_id": row.task_id, "data_name": row.data_name, "data_describe": row.data_describe,
            "data_type": row.data_type, "status": status, "sour_data": row.sour_data, "train": row.train,
            "val": row.val, "test": row.test, "thread": row.thread, "l_value": bool(row.l_value),
            "progress": round(float(task["progress"]), 4) if task else 0.0, "error": task["error"] if task else None,
            "dataset_id": row.dataset_id, "version": row.version, "result": task["result"] if task else None,
            **stamp(row)}


def history(*, ctx: Platform, task_id: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """Every data record (no task_id) or one record with its generation progress."""
    with ctx.db.session() as s:
        query = select(AutoseleData).order_by(AutoseleData.id)
        if task_id is not None:
            query = query.where(AutoseleData.task_id == task_id)
        rows = s.scalars(query).all()
        if task_id is not None and not rows:
            raise NotFound(f"data task '{task_id}' not found")
        out = []
        for row in rows:
            try:
                task = tasks.get(ctx=ctx, task_id=row.task_id)
            except Exception:
                task = None
            out.append(_record(row, task))
    return out[0] if task_id is not None else out


def ready_names(*, ctx: Platform) -> list[str]:
    """Names of the data versions that finished generating (what /create_train's `data` accepts)."""
    with ctx.db.session() as s:
        return list(s.scalars(select(AutoseleData.data_name).where(AutoseleData.version.is_not(None))
                              .order_by(AutoseleData.id)))


def version_of(*, ctx: Platform, name: str) -> tuple[str, str, dict[str, Any]]:
    """(dataset_id, version, record) of a generated data version; Conflict while still generating."""
    with ctx.db.session() as s:
        row = data_row(s, name)
        if row.version is None:
            raise Conflict(f"data '{name}' is not generated yet (see /data_history)")
        return row.dataset_id, row.version, {"data_name": row.data_name, "data_describe": row.data_describe}
