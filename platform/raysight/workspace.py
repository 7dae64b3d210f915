"""The on-disk layout. The ONLY module that joins user input to filesystem paths.

Layout under the workspace root::

    raysight.db                 default SQLite database
    datasets/<id>/source.zip    the uploaded archive
    datasets/<id>/raw/          its extracted content (made by prepare)
    datasets/<id>/v<N>/         a prepared version: images/, labels/, data.yaml
    jobs/<id>/                  a training job's storage (Ray Train run, checkpoints); jobs/<id>.log its log
    models/<id>/                a registered model: weights/, plots
    weights/                    pretrained weights the platform may start from (yolov8n.pt, resnet18.pth...)
    uploads/                    images sent for inference / ingest
    tasks/<id>/                 files of tracked tasks
    tmp/                        staging area; everything here is disposable
"""

from __future__ import annotations

import re
import shutil
import stat
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

from raysight.errors import Invalid, NotFound, TooLarge
from raysight.ids import random_id

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_. ()-]{0,254}$")
CHUNK = 1024 * 1024


def check_id(value: str, what: str = "id") -> str:
    """Ids become folder names: allow a conservative character set only."""
    if not _ID.match(value or "") or ".." in value:
        raise NotFound(f"{what} '{value}' not found")
    return value


def clean_filename(name: str | None, default: str = "upload") -> str:
    """The last component of a client-supplied filename, reduced to safe characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9_. ()-]", "_", base).lstrip(".") or default
    return base[:200]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def ensure(self) -> Workspace:
        for sub in ("datasets", "jobs", "models", "weights", "uploads", "tasks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    # -- fixed folders ----------------------------------------------------
    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    # -- per-record folders -----------------------------------------------
    def dataset_dir(self, dataset_id: str) -> Path:
        return self.datasets / check_id(dataset_id, "dataset")

    def dataset_archive(self, dataset_id: str) -> Path:
        return self.dataset_dir(dataset_id) / "source.zip"

    def dataset_raw(self, dataset_id: str) -> Path:
        return self.dataset_dir(dataset_id) / "raw"

    def version_dir(self, dataset_id: str, version: str) -> Path:
        if not re.fullmatch(r"v\d{1,6}", version or ""):
            raise NotFound(f"version '{version}' not found")
        return self.dataset_dir(dataset_id) / version

    def job_dir(self, job_id: str) -> Path:
        return self.jobs / check_id(job_id, "job")

    def job_log(self, job_id: str) -> Path:
        return self.jobs / f"{check_id(job_id, 'job')}.log"

    def model_dir(self, model_id: str) -> Path:
        return self.models / check_id(model_id, "model")

    def task_dir(self, task_id: str) -> Path:
        return self.tasks / check_id(task_id, "task")

    def dialect_dir(self, dialect: str) -> Path:
        """Run-time state a compatible API dialect keeps (e.g. filerec's parameters)."""
        path = self.root / "dialects" / check_id(dialect, "dialect")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def weights_file(self, name: str) -> Path:
        """A named pretrained weights file inside the weights folder (never outside it)."""
        return self.weights / clean_filename(name)

    def upload_path(self, filename: str) -> Path:
        """A file of the uploads folder, by its bare name (serving /uploads/{filename})."""
        if filename != clean_filename(filename) or not _FILENAME.match(filename):
            raise NotFound("file not found")
        return self.uploads / filename

    def new_upload_path(self, prefix: str, suffix: str) -> Path:
        suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
        return self.uploads / f"{random_id(prefix, random_bytes=6)}{suffix}"

    def staging(self, prefix: str = "stage") -> Path:
        path = self.tmp / random_id(prefix, random_bytes=16)
        path.mkdir(parents=True)
        return path

    def sweep_tmp(self, older_than_s: float = 86_400.0) -> int:
        """Delete staging entries untouched for `older_than_s` (left by a client that went away before its
        request's cleanup could run, or by a killed process). Younger ones may belong to live requests of
        another replica and stay. Returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in self.tmp.iterdir() if self.tmp.is_dir() else ():
            try:
                if entry.lstat().st_mtime < cutoff:
                    self.remove(entry)
                    removed += 1
            except OSError:
                continue
        return removed

    # -- relative paths served over HTTP ----------------------------------
    def relative(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def resolve_served(self, relative: str, *, allowed: tuple[str, ...] = ("datasets", "uploads")) -> Path:
        """A workspace-relative path from a URL, confined to the allowed top folders and existing."""
        parts = PurePosixPath(relative.replace("\\", "/")).parts
        if not parts or parts[0] not in allowed or any(p in ("..", "") or p.startswith("/") for p in parts):
            raise NotFound("file not found")
        path = (self.root.joinpath(*parts)).resolve()
        top = (self.root / parts[0]).resolve()
        if not path.is_relative_to(top) or not path.is_file():
            raise NotFound("file not found")
        return path

    def remove(self, path: Path) -> None:
        """Delete a file or folder that lies inside the workspace."""
        path = Path(path)
        if not path.resolve().is_relative_to(self.root) or path.resolve() == self.root:
            raise Invalid("refusing to delete outside the workspace")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def save_stream(
    read: Callable[[int], Awaitable[bytes]], dest: Path, *, max_bytes: int
) -> int:
    """Stream an upload to `dest` chunk by chunk; on any failure (or size over the limit) leave nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := await read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"upload exceeds the limit of {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _member_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def check_zip(archive: Path, *, max_bytes: int, max_files: int) -> list[zipfile.ZipInfo]:
    """Validate a zip before anything is written: no absolute paths, `..`, symlinks or zip bombs."""
    if not zipfile.is_zipfile(archive):
        raise Invalid("the upload is not a zip archive")
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise Invalid(f"the zip archive is corrupt: {exc}") from exc
    if len(infos) > max_files:
        raise TooLarge(f"the archive has {len(infos)} entries, more than the limit of {max_files}")
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise Invalid(f"unsafe path in archive: {info.filename!r}")
        if _member_is_symlink(info):
            raise Invalid(f"symbolic links are not allowed in archives: {info.filename!r}")
        total += info.file_size
        if total > max_bytes:
            raise TooLarge(f"the archive unpacks to more than {max_bytes // (1024 * 1024)} MB")
    return infos


def extract_zip(archive: Path, dest: Path, *, max_bytes: int, max_files: int) -> int:
    """Extract a checked archive into `dest` (replaced atomically). Returns the number of files written."""
    infos = check_zip(archive, max_bytes=max_bytes, max_files=max_files)
    staging = dest.with_name(f"{dest.name}.{random_id('extract', random_bytes=4, sep='-')}")
    staging.mkdir(parents=True)
    written = 0
    budget = max_bytes
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in infos:
                name = info.filename.replace("\\", "/")
                if name.startswith("__MACOSX/") or PurePosixPath(name).name == ".DS_Store":
                    continue
                target = (staging / name).resolve()
                if not target.is_relative_to(staging.resolve()):
                    raise Invalid(f"unsafe path in archive: {info.filename!r}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # Count real bytes written: a lying header cannot get past the limit.
                with zf.open(info) as src, target.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        budget -= len(chunk)
                        if budget < 0:
                            raise TooLarge("the archive unpacks to more than the configured limit")
                        out.write(chunk)
                written += 1
        if dest.exists():
            shutil.rmtree(dest)
        staging.replace(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written
