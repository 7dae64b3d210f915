"""PaddleX datasets (D0001...): created empty, imported asynchronously from a server folder under
RAYSIGHT_IMPORT_ROOTS into a core dataset, split into a core version, described file by file.

The record's `ref` is the core dataset id; the imported copy lives in that dataset's `raw/` folder (the
dataset's `path`), and a split is a core prepare with the asked ratios (a new version vN each time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, TooLarge, public_message
from raysight.ids import timestamped_id
from raysight.import_roots import resolve_server_path
from raysight.services import datasets as core_datasets
from raysight.services import tasks
from raysight.services.dataset_formats import content_root
from raysight.services.dataset_limits import DatasetLimits
from raysight.services.dataset_reader import detect_and_parse
from raysight.services.paddlex import records
from raysight.services.paddlex.dataset_details import build_details
from raysight.services.paddlex.enums import CORE_TASK, DatasetStatus, project_type
from raysight.store.models import Dataset

KIND = "dataset"


def _folder(ctx: Platform, did: str) -> Path:
    path = ctx.workspace.dialect_dir("paddlex") / "datasets" / did
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path_of(ctx: Platform, rec: dict[str, Any]) -> str:
    return str(ctx.workspace.dataset_raw(rec["ref"])) if rec["ref"] else str(_folder(ctx, rec["id"]))


def _pids(ctx: Platform, did: str) -> list[str]:
    return [p["id"] for p in records.list_of(ctx=ctx, kind="project") if p["attrs"].get("did") == did]


def attr_of(ctx: Platform, rec: dict[str, Any]) -> dict[str, Any]:
    """The documented dataset attributes (single-dataset form, with pids)."""
    a = rec["attrs"]
    return {"type": rec["type"], "id": rec["id"], "name": rec["name"], "path": _path_of(ctx, rec),
            "desc": rec["desc"], "create_time": rec["create_time"], "pids": _pids(ctx, rec["id"]),
            "format": a.get("format"), "labels": a.get("labels", []), "file_count": a.get("file_count", 0)}


def create(*, ctx: Platform, name: str, desc: str, dataset_type: object) -> dict[str, Any]:
    kind = project_type(dataset_type, "dataset_type")
    if not str(name or "").strip():
        raise Invalid("name is required")
    rec = records.create(ctx=ctx, kind=KIND, name=str(name).strip(), desc=str(desc or ""), type=kind,
                         attrs={"status": int(DatasetStatus.XEMPTY), "message": "no data imported yet"})
    _folder(ctx, rec["id"])
    return {"did": rec["id"]}


def get(*, ctx: Platform, did: object) -> dict[str, Any]:
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    return {"id": rec["id"], "dataset_status": rec["attrs"].get("status", 0),
            "message": rec["attrs"].get("message", ""), "attr": attr_of(ctx, rec)}


def list_all(*, ctx: Platform) -> dict[str, Any]:
    out = []
    for rec in records.list_of(ctx=ctx, kind=KIND):
        attr = attr_of(ctx, rec)
        attr.pop("pids", None)
        attr.update(dataset_status=rec["attrs"].get("status", 0), message=rec["attrs"].get("message", ""))
        out.append({"id": rec["id"], "attr": attr})
    return {"datasets": out}


# -- import ------------------------------------------------------------------------------------------------


def _copy_tree(src: Path, dest: Path, *, max_files: int, max_bytes: int) -> int:
    """Copy regular files only (symbolic links are left behind: they could point outside the root)."""
    count, total = 0, 0
    for folder, dirs, files in os.walk(src, followlinks=False):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink() and not d.startswith(".")]
        for name in files:
            source = here / name
            if source.is_symlink() or name.startswith(".") or not source.is_file():
                continue
            count += 1
            total += source.stat().st_size
            if count > max_files or total > max_bytes:
                raise TooLarge(f"the folder holds more than {max_files} files or {max_bytes} bytes "
                               "(RAYSIGHT_MAX_EXTRACT_FILES / RAYSIGHT_MAX_EXTRACT_MB)")
            target = dest / source.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return count


def _import_blocking(ctx: Platform, rec: dict[str, Any], source: Path, core_id: str) -> dict[str, Any]:
    settings = ctx.settings
    raw = ctx.workspace.dataset_raw(core_id)
    _copy_tree(source, raw, max_files=settings.max_extract_files, max_bytes=settings.max_extract_bytes)
    if not raw.is_dir():
        raise Invalid("the folder holds no files")
    wanted = CORE_TASK[rec["type"]]
    parsed = detect_and_parse(raw, limits=DatasetLimits.of(settings), task_type=wanted)
    if parsed.task_type != wanted:
        raise Invalid(f"the folder holds a {parsed.format} {parsed.task_type} dataset, not a {rec['type']} "
                      f"dataset ({wanted})")
    if not parsed.items:
        raise Invalid(f"no usable images in the folder ({parsed.skipped} skipped)")
    return {"format": parsed.format, "labels": list(parsed.classes), "file_count": len(parsed.items),
            "skipped": parsed.skipped, "root": str(content_root(raw))}


def start_import(*, ctx: Platform, did: object, path: object) -> dict[str, Any]:
    """Check the folder (under RAYSIGHT_IMPORT_ROOTS), then copy and recognise it in the background:
    XCOPYING -> XCOPYDONE, or XCOPYFAIL with the reason in `message`."""
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    source = resolve_server_path(ctx.settings, path if isinstance(path, str) else None, want_dir=True)
    if not source.is_dir():
        raise Invalid("path must be a folder")
    work = prepare_import(ctx=ctx, rec=rec, source=source)
    task_id = tasks.create(ctx=ctx, kind="paddlex_import", params={"did": rec["id"]})
    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return {"task_id": task_id}


def prepare_import(*, ctx: Platform, rec: dict[str, Any], source: Path) -> Any:
    """Mark the dataset XCOPYING on a fresh core dataset and return the import's work (a tasks.Work) that
    copies and recognises `source` (a folder the caller has vetted)."""
    if rec["attrs"].get("status") == DatasetStatus.XCOPYING:
        raise Conflict(f"dataset '{rec['id']}' is already being imported")
    if rec["ref"]:  # a re-import replaces the earlier data
        _drop_core(ctx, rec["ref"])
    core_id = timestamped_id("ds")
    ctx.workspace.dataset_dir(core_id).mkdir(parents=True)
    with ctx.db.session() as s:
        s.add(Dataset(id=core_id, filename=source.name[:255] or "folder", size=0, status="uploaded",
                      description=f"PaddleX dataset {rec['id']}", tags=["paddlex", rec["id"]]))
    records.update(ctx=ctx, kind=KIND, code=rec["id"], ref=core_id,
                   attrs={"status": int(DatasetStatus.XCOPYING), "message": "importing", "split": None,
                          "version": None})

    async def work(_progress: Any) -> dict[str, Any]:
        try:
            found = await asyncio.to_thread(_import_blocking, ctx, rec, source, core_id)
        except BaseException as exc:
            ctx.workspace.remove(ctx.workspace.dataset_raw(core_id))
            records.update(ctx=ctx, kind=KIND, code=rec["id"],
                           attrs={"status": int(DatasetStatus.XCOPYFAIL), "message": public_message(exc)})
            raise
        records.update(ctx=ctx, kind=KIND, code=rec["id"],
                       attrs={"status": int(DatasetStatus.XCOPYDONE), "message": "import done", **found})
        return found

    return work


def fail_interrupted_imports(*, ctx: Platform) -> int:
    """At start-up no import of a previous process can still be copying: a dataset left XCOPYING is
    XCOPYFAIL (so it can be imported again or deleted); its partial copy goes."""
    stuck = [rec for rec in records.list_of(ctx=ctx, kind=KIND) if rec["attrs"].get("status") == DatasetStatus.XCOPYING]
    for rec in stuck:
        if rec["ref"]:
            ctx.workspace.remove(ctx.workspace.dataset_raw(rec["ref"]))
        records.update(ctx=ctx, kind=KIND, code=rec["id"],
                       attrs={"status": int(DatasetStatus.XCOPYFAIL),
                              "message": "interrupted: the server restarted while the dataset was imported"})
    return len(stuck)


def _drop_core(ctx: Platform, core_id: str) -> None:
    with contextlib.suppress(NotFound):
        core_datasets.delete_dataset(ctx=ctx, dataset_id=core_id)


# -- split, details, delete -------------------------------------------------------------------------------


def _ratio(value: object, what: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= float(value) < 1:
        raise Invalid(f"{what} must be a number in [0, 1)")
    return float(value)


async def split(*, ctx: Platform, did: object, val_split: object, test_split: object) -> dict[str, Any]:
    """A core prepare with train/val/test ratios; writes the details the client reads next."""
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    val, test = _ratio(val_split, "val_split"), _ratio(test_split, "test_split")
    if val + test >= 1:
        raise Invalid("val_split + test_split must be below 1 (the rest is the training set)")
    if rec["attrs"].get("status") not in (DatasetStatus.XCOPYDONE, DatasetStatus.XSPLITED) or not rec["ref"]:
        raise Conflict(f"dataset '{rec['id']}' has no imported data to split (status "
                       f"{DatasetStatus(rec['attrs'].get('status', 0)).name})")
    ratio = {"train": round(1 - val - test, 6), "val": val, "test": test}
    ratio["train"] = 1 - ratio["val"] - ratio["test"]
    task_type = CORE_TASK[rec["type"]]
    result = await asyncio.to_thread(core_datasets.prepare, ctx=ctx, dataset_id=rec["ref"], split_ratio=ratio,
                                     task_type=task_type)
    details = await asyncio.to_thread(build_details, ctx, rec["ref"], ratio, task_type)
    (_folder(ctx, rec["id"]) / "details.json").write_text(json.dumps(details))
    records.update(ctx=ctx, kind=KIND, code=rec["id"], attrs={
        "status": int(DatasetStatus.XSPLITED), "message": "split done", "version": result["version"],
        "split": {"val_split": val, "test_split": test},
        "counts": {k: result[f"{k}_count"] for k in ("train", "val", "test")}})
    return {"version": result["version"]}


def details(*, ctx: Platform, did: object) -> dict[str, Any]:
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    file = _folder(ctx, rec["id"]) / "details.json"
    if rec["attrs"].get("status") != DatasetStatus.XSPLITED or not file.is_file():
        raise Conflict(f"dataset '{rec['id']}' is not split yet (PUT /dataset/split first)")
    return json.loads(file.read_text())


def version_of(ctx: Platform, did: str) -> tuple[str, str]:
    """(core dataset id, version) a training of this dataset reads; Conflict until it is split."""
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    if rec["attrs"].get("status") != DatasetStatus.XSPLITED or not rec["attrs"].get("version"):
        raise Conflict(f"dataset '{rec['id']}' is not split yet (PUT /dataset/split first)")
    return str(rec["ref"]), str(rec["attrs"]["version"])


def delete(*, ctx: Platform, did: object) -> None:
    rec = records.get(ctx=ctx, kind=KIND, code=did)
    if rec["attrs"].get("status") == DatasetStatus.XCOPYING:
        raise Conflict(f"dataset '{rec['id']}' is being imported")
    if rec["ref"]:
        _drop_core(ctx, rec["ref"])  # Conflict while a training job uses it
    for pid in _pids(ctx, rec["id"]):
        records.update(ctx=ctx, kind="project", code=pid, attrs={"did": None})
    records.delete(ctx=ctx, kind=KIND, code=rec["id"])
    ctx.workspace.remove(_folder(ctx, rec["id"]))
