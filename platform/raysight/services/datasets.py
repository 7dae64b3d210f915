"""Datasets: upload a zip, prepare versions (v1, v2, ...) that training reads, list, describe, delete.

Files live where workspace.py says: datasets/<id>/source.zip, datasets/<id>/raw/, datasets/<id>/vN/.
A prepare holds the dataset's "preparing" status as a lock (compare-and-set in the database), builds
the version in a staging folder and renames it into place, so a failure never leaves half a version.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from raysight.context import Platform
from raysight.errors import Conflict, Invalid, NotFound, Unprocessable, public_message
from raysight.services.dataset_formats import detect_and_parse
from raysight.services.dataset_limits import DatasetLimits
from raysight.services.dataset_split import check_ratio, split_items, write_version
from raysight.store.models import AnnotationTask, Dataset, DatasetVersion, TrainJob
from raysight.store.models.base import iso, utcnow
from raysight.workspace import check_id, check_zip, clean_filename, extract_zip, save_stream

# A "preparing" status older than this, or left by a process that is gone, no longer locks the dataset.
PREPARE_STALE_AFTER = timedelta(hours=1)
ACTIVE_JOB_STATES = ("queued", "running")


@dataclass(frozen=True)
class VersionInfo:
    """A prepared version, as training and evaluation need it (paths absolute)."""

    dataset_id: str
    version: str
    format: str
    task_type: str  # detect / classify / instance_segment / semantic_segment
    classes: list[str]
    data_yaml: str
    root: str
    train_count: int
    val_count: int
    class_counts: dict[str, int] = field(default_factory=dict)
    test_count: int = 0


def new_id(prefix: str) -> str:
    """`<prefix>_YYYYMMDD_HHMMSS_<6 hex>`: sortable by time, unique by the random suffix."""
    return f"{prefix}_{utcnow():%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


# -- upload ----------------------------------------------------------------------------------------------


async def upload(*, ctx: Platform, filename: str, read: Callable[[int], Awaitable[bytes]]) -> dict[str, Any]:
    """Stream a zip to disk, refuse it (leaving nothing) unless it is a safe archive, record the dataset."""
    settings = ctx.settings
    name = clean_filename(filename, "dataset.zip")
    staging = ctx.workspace.staging("upload")
    dataset_id = new_id("ds")
    final_dir = ctx.workspace.dataset_dir(dataset_id)
    try:
        part = staging / "source.zip"
        size = await save_stream(read, part, max_bytes=settings.max_upload_bytes)
        check_zip(part, max_bytes=settings.max_extract_bytes, max_files=settings.max_extract_files)
        final_dir.mkdir(parents=True)
        part.replace(ctx.workspace.dataset_archive(dataset_id))
        with ctx.db.session() as s:
            row = Dataset(id=dataset_id, filename=name, size=size, status="uploaded", description="", tags=[])
            s.add(row)
            s.flush()
            created = row.created_at
    except BaseException:
        if final_dir.exists():
            ctx.workspace.remove(final_dir)
        raise
    finally:
        ctx.workspace.remove(staging)
    return {"dataset_id": dataset_id, "filename": name, "size": size, "created_at": iso(created), "status": "uploaded"}


# -- the prepare lock --------------------------------------------------------------------------------------


def _lock_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def lock_is_stale(ds: Dataset) -> bool:
    """True when a "preparing" status is no longer backed by a live prepare."""
    if ds.prepare_started_at is None or utcnow() - ds.prepare_started_at > PREPARE_STALE_AFTER:
        return True
    host, _, rest = (ds.prepare_owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        return not _pid_alive(int(pid))
    return False


def _claim(ctx: Platform, dataset_id: str) -> str:
    with ctx.db.session() as s:
        ds = _get(s, dataset_id)
        if ds.status == "preparing" and not lock_is_stale(ds):
            raise Conflict(f"dataset '{dataset_id}' is already being prepared")
        seen_status, seen_owner = ds.status, ds.prepare_owner
    token = _lock_token()
    owner_match = Dataset.prepare_owner.is_(None) if seen_owner is None else Dataset.prepare_owner == seen_owner
    try:
        with ctx.db.session() as s:  # compare-and-set: only one of two racing prepares changes the row
            claimed = s.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id, Dataset.status == seen_status, owner_match)
                .values(status="preparing", prepare_owner=token, prepare_started_at=utcnow())
            ).rowcount
    except OperationalError as exc:  # the other writer holds the database: it is the other prepare
        raise Conflict(f"dataset '{dataset_id}' is already being prepared") from exc
    if claimed != 1:
        raise Conflict(f"dataset '{dataset_id}' is already being prepared")
    return token


def _release(ctx: Platform, dataset_id: str, token: str, *, error: str | None) -> None:
    with ctx.db.session() as s:
        has_versions = s.scalar(select(func.count()).where(DatasetVersion.dataset_id == dataset_id)) or 0
        s.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, Dataset.prepare_owner == token)
            .values(
                status="prepared" if has_versions else "uploaded",
                prepare_owner=None,
                prepare_started_at=None,
                error=error,
            )
        )


# -- prepare ---------------------------------------------------------------------------------------------


def _check_classes(classes: list[str] | None) -> list[str] | None:
    if classes is None:
        return None
    names = [str(c).strip() for c in classes]
    if not names or any(not n for n in names):
        raise Unprocessable("classes must be a non-empty list of non-empty names")
    if len(set(names)) != len(names):
        raise Unprocessable("classes must not repeat a name")
    return names


def prepare(
    *, ctx: Platform, dataset_id: str, split_ratio: dict[str, float] | None = None, classes: list[str] | None = None,
    task_type: str | None = None,
) -> dict[str, Any]:
    """Extract (once), recognise, validate, split and write the next version vN. Blocking: run it in a thread.

    `task_type` (detect, classify, instance_segment, semantic_segment) reads the data as that task;
    None recognises it (services.dataset_formats.detect_and_parse). The version records its task type."""
    check_id(dataset_id, "dataset")
    ratio = check_ratio(split_ratio)
    wanted = _check_classes(classes)
    token = _claim(ctx, dataset_id)
    try:
        result = _build_version(ctx, dataset_id, ratio=ratio, keep_source_splits=split_ratio is None, classes=wanted,
                                task_type=task_type)
    except BaseException as exc:
        message = public_message(exc)
        _release(ctx, dataset_id, token, error=message)
        raise
    _release(ctx, dataset_id, token, error=None)
    return result


def _build_version(
    ctx: Platform, dataset_id: str, *, ratio: dict[str, float], keep_source_splits: bool, classes: list[str] | None,
    task_type: str | None = None,
) -> dict[str, Any]:
    settings, ws = ctx.settings, ctx.workspace
    raw = ws.dataset_raw(dataset_id)
    if not raw.is_dir():
        archive = ws.dataset_archive(dataset_id)
        if not archive.is_file():
            raise Conflict(f"dataset '{dataset_id}' has no archive on disk")
        extract_zip(archive, raw, max_bytes=settings.max_extract_bytes, max_files=settings.max_extract_files)
    parsed = detect_and_parse(raw, classes=classes, limits=DatasetLimits.of(ctx.settings), task_type=task_type)
    if not parsed.items:
        hint = "; ".join(parsed.problems[:5])
        raise Invalid(f"no usable images in the dataset ({parsed.skipped} skipped{': ' + hint if hint else ''})")
    splits = split_items(parsed, ratio=ratio, seed=settings.seed, keep_source_splits=keep_source_splits)
    with ctx.db.session() as s:
        number = (s.scalar(select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == dataset_id))
                  or 0) + 1
    version = f"v{number}"
    final = ws.version_dir(dataset_id, version)
    staging = ws.staging(f"prepare_{dataset_id}")
    try:
        written = write_version(parsed, splits, staging=staging, final=final)
        if final.exists():
            _remove_orphan(ctx, dataset_id, number, final)
        staging.replace(final)
    except BaseException:
        ws.remove(staging)
        raise
    counts = written["counts"]
    try:
        with ctx.db.session() as s:
            s.add(DatasetVersion(
                dataset_id=dataset_id, number=number, format=parsed.format, task_type=parsed.task_type,
                classes=parsed.classes, class_counts=written["class_counts"], split_ratio=ratio,
                seed=settings.seed, train_count=counts["train"], val_count=counts["val"],
                test_count=counts["test"], data_yaml=written["data_yaml"], skipped=parsed.skipped,
            ))
            ds = _get(s, dataset_id)
            ds.format, ds.task_type = parsed.format, parsed.task_type
    except BaseException:
        ws.remove(final)
        raise
    return {
        "dataset_id": dataset_id,
        "version": version,
        "status": "prepared",
        "classes": parsed.classes,
        "train_count": counts["train"],
        "val_count": counts["val"],
        "test_count": counts["test"],
        "data_yaml": written["data_yaml"],
        "format": parsed.format,
        "task_type": parsed.task_type,
        "class_counts": written["class_counts"],
        "skipped": parsed.skipped,
    }


def _remove_orphan(ctx: Platform, dataset_id: str, number: int, final: Any) -> None:
    """A version folder without its row was left by a crash between rename and commit: drop it."""
    with ctx.db.session() as s:
        taken = s.scalar(select(DatasetVersion.id).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number))
    if taken:
        raise Conflict(f"version v{number} of '{dataset_id}' was written by another prepare")
    ctx.workspace.remove(final)


# -- read / update / delete ----------------------------------------------------------------------------------


def _get(s: Any, dataset_id: str) -> Dataset:
    row = s.get(Dataset, check_id(dataset_id, "dataset"))
    if row is None:
        raise NotFound(f"dataset '{dataset_id}' not found")
    return row


def _summary(ds: Dataset) -> dict[str, Any]:
    return {
        "dataset_id": ds.id,
        "filename": ds.filename,
        "size": ds.size,
        "status": ds.status,
        "created_at": iso(ds.created_at),
        "versions": [v.name for v in ds.versions],
        "format": ds.format,
        "task_type": ds.task_type,
    }


def _version_dict(v: DatasetVersion) -> dict[str, Any]:
    return {
        "version": v.name,
        "format": v.format,
        "task_type": v.task_type,
        "classes": list(v.classes),
        "class_counts": dict(v.class_counts),
        "train_count": v.train_count,
        "val_count": v.val_count,
        "test_count": v.test_count,
        "skipped": v.skipped,
        "split_ratio": dict(v.split_ratio),
        "seed": v.seed,
        "data_yaml": v.data_yaml,
        "created_at": iso(v.created_at),
    }


def _detail(ds: Dataset) -> dict[str, Any]:
    return {
        **_summary(ds),
        "description": ds.description,
        "tags": list(ds.tags or []),
        "error": ds.error,
        "version_details": [_version_dict(v) for v in ds.versions],
    }


def list_datasets(*, ctx: Platform) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows = s.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc())).all()
        return {"datasets": [_summary(ds) for ds in rows]}


def get_dataset(*, ctx: Platform, dataset_id: str) -> dict[str, Any]:
    with ctx.db.session() as s:
        return _detail(_get(s, dataset_id))


def update_dataset(
    *, ctx: Platform, dataset_id: str, description: str | None = None, tags: list[str] | None = None
) -> dict[str, Any]:
    """Change the description and/or tags (a field left out keeps its value)."""
    if tags is not None:
        tags = [str(t).strip() for t in tags if str(t).strip()]
        tags = list(dict.fromkeys(tags))
    with ctx.db.session() as s:
        ds = _get(s, dataset_id)
        if description is not None:
            ds.description = description
        if tags is not None:
            ds.tags = tags
        s.flush()
        return _detail(ds)


def delete_dataset(*, ctx: Platform, dataset_id: str) -> dict[str, Any]:
    """Remove the rows and every file. 409 while a queued/running training job or a prepare uses it."""
    with ctx.db.session() as s:
        ds = _get(s, dataset_id)
        job = s.scalar(
            select(TrainJob.id).where(TrainJob.dataset_id == dataset_id, TrainJob.status.in_(ACTIVE_JOB_STATES))
        )
        if job:
            raise Conflict(f"dataset '{dataset_id}' is used by training job '{job}'; stop or delete the job first")
        if ds.status == "preparing" and not lock_is_stale(ds):
            raise Conflict(f"dataset '{dataset_id}' is being prepared")
        for task in s.scalars(select(AnnotationTask).where(AnnotationTask.dataset_id == dataset_id)):
            s.delete(task)
        s.delete(ds)
    folder = ctx.workspace.dataset_dir(dataset_id)
    if folder.exists():
        # Rename first so that a half-deleted folder never looks like a dataset.
        trash = ctx.workspace.tmp / f"deleted_{dataset_id}_{secrets.token_hex(4)}"
        folder.replace(trash)
        shutil.rmtree(trash, ignore_errors=True)
    return {"ok": True, "message": "Dataset deleted successfully"}


def get_version(*, ctx: Platform, dataset_id: str, version: str = "v1") -> VersionInfo:
    """A prepared version. NotFound for an unknown dataset or version name; Conflict when not prepared yet."""
    folder = ctx.workspace.version_dir(dataset_id, version)
    with ctx.db.session() as s:
        ds = _get(s, dataset_id)
        row = next((v for v in ds.versions if v.name == version), None)
        if row is None:
            raise Conflict(f"dataset not prepared: '{dataset_id}' has no version {version}")
        return VersionInfo(
            dataset_id=dataset_id,
            version=version,
            format=row.format,
            task_type=row.task_type,
            classes=list(row.classes),
            data_yaml=row.data_yaml or str(folder / "data.yaml"),
            root=str(folder),
            train_count=row.train_count,
            val_count=row.val_count,
            class_counts=dict(row.class_counts),
            test_count=row.test_count,
        )
