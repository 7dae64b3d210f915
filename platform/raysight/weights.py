"""The weights folder (``<workspace>/weights/``): what it holds and which architecture each file fits,
adding a file after checking it, and pulling the official files from their publishers (or a mirror).

Every check is the owning family's ``Backend.check_weights`` (keys and shapes against the architecture,
nothing in the file run). A pull downloads into ``<workspace>/tmp/pull/<file>.part``, resumes a broken
transfer with an HTTP Range request, checks the finished file and only then moves it into the weights
folder; on failure nothing of it is left. This command is the only place raysight downloads weights.
No ray, no fastapi here.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from raysight.backend import Backend, WeightsInfo
from raysight.errors import Invalid, InvalidWeights, NotFound, Unavailable
from raysight.workspace import clean_filename

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
ULTRALYTICS = "https://github.com/ultralytics/assets/releases/download/v8.3.0"
SAM = "https://dl.fbaipublicfiles.com/segment_anything"
TORCHVISION = "https://download.pytorch.org/models"


@dataclass(frozen=True)
class Official:
    """An official weights file: where its publisher serves it and the name the plugin looks it up by."""

    name: str  # what `raysight weights pull` takes
    filename: str  # its name in the weights folder (the one the plugin looks up)
    family: str
    arch: str
    url: str  # the publisher's URL; a mirror serves the same file as <RAYSIGHT_WEIGHTS_URL>/<upstream_name>

    @property
    def upstream_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


CATALOGUE: tuple[Official, ...] = (
    *(Official(a, f"{a}.pt", "yolo", a, f"{ULTRALYTICS}/{a}.pt") for a in ("yolov8n", "yolov8s", "yolov8m", "yolo11n")),
    Official("mobile_sam", "mobile_sam.pt", "sam", "vit_t",
             "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"),
    Official("sam_vit_b", "sam_vit_b_01ec64.pth", "sam", "vit_b", f"{SAM}/sam_vit_b_01ec64.pth"),
    Official("sam_vit_l", "sam_vit_l_0b3195.pth", "sam", "vit_l", f"{SAM}/sam_vit_l_0b3195.pth"),
    Official("sam_vit_h", "sam_vit_h_4b8939.pth", "sam", "vit_h", f"{SAM}/sam_vit_h_4b8939.pth"),
    Official("resnet18", "resnet18.pth", "resnet", "resnet18", f"{TORCHVISION}/resnet18-f37072fd.pth"),
    Official("resnet50", "resnet50.pth", "resnet", "resnet50", f"{TORCHVISION}/resnet50-0676ba61.pth"),
)


def find_official(name: str) -> Official:
    """The catalogue entry for `name` (yolov8n, yolov8n.pt, mobile_sam.pt, sam_vit_b, resnet18...)."""
    for entry in CATALOGUE:
        if name in (entry.name, entry.filename, entry.upstream_name, Path(entry.filename).stem):
            return entry
    raise NotFound(f"no official weights named '{name}' (one of {', '.join(e.name for e in CATALOGUE)})")


# -- checking -----------------------------------------------------------------------------------------


def looked_up(backends: Mapping[str, Backend]) -> dict[str, tuple[str, str]]:
    """{file name: (family, architecture)} of every name a family looks up in the weights folder."""
    return {file: (family, arch) for family, b in backends.items() for file, arch in b.weights_names().items()}


def takes_weights(backend: Backend) -> bool:
    return type(backend).check_weights is not Backend.check_weights


def identify(backends: Mapping[str, Backend], path: Path, *, family: str | None = None,
             arch: str | None = None) -> WeightsInfo:
    """Which family and architecture the file fits: `family` (and `arch`) if given, else the family that
    looks its name up, else the first family whose check accepts it. InvalidWeights if none does."""
    if family is not None:
        if family not in backends:
            raise Invalid(f"unknown model family '{family}' (one of {', '.join(sorted(backends))})")
        return backends[family].check_weights(path, arch=arch)
    named = looked_up(backends).get(path.name)
    if named is not None:
        return backends[named[0]].check_weights(path, arch=arch or named[1])
    errors = []
    for name, backend in sorted(backends.items()):
        if takes_weights(backend) and path.suffix.lower() in backend.weights_suffixes:
            try:
                return backend.check_weights(path, arch=arch)
            except InvalidWeights as exc:
                errors.append(f"{name}: {exc.message}")
    raise InvalidWeights(f"'{path.name}' fits no model family ({' | '.join(errors) or 'no family takes it'})")


@dataclass
class Entry:
    """One file of the weights folder."""

    file: str
    size: int
    info: WeightsInfo | None
    error: str | None
    looked_up_by: str | None  # "yolo (yolov8n)" when a family uses it under this name
    rename_to: str | None = None  # the name a family would look it up by, when it fits but no family does


def list_folder(backends: Mapping[str, Backend], folder: Path) -> list[Entry]:
    """Every file in the weights folder with the architecture it fits (or why it fits none)."""
    names = looked_up(backends)
    entries = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []:
        info, error = None, None
        try:
            info = identify(backends, path)
        except (InvalidWeights, Invalid) as exc:
            error = exc.message
        used = names.get(path.name)
        rename = None
        if info is not None and used is None:
            rename = next((f for f, fit in names.items() if fit == (info.family, info.arch)), None)
        entries.append(Entry(file=path.name, size=path.stat().st_size, info=info, error=error,
                             looked_up_by=f"{used[0]} ({used[1]})" if used and info is not None else None,
                             rename_to=rename))
    return entries


# -- adding ---------------------------------------------------------------------------------------------


def _install(checked: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(checked, dest)  # same filesystem (both in the workspace): the file appears whole or not at all


def add(backends: Mapping[str, Backend], folder: Path, src: Path, *, tmp: Path, name: str | None = None,
        family: str | None = None, force: bool = False) -> tuple[Path, WeightsInfo]:
    """Copy `src` into the weights folder (as `name`, default its own name) after checking that it fits
    its family's architecture (the one the name stands for, if a family looks that name up)."""
    src = Path(src)
    if not src.is_file():
        raise NotFound(f"no file '{src}'")
    target = clean_filename(name or src.name, "weights.pt")
    dest = folder / target
    if dest.exists() and not force:
        raise Invalid(f"'{target}' is already in the weights folder (use --force to replace it)")
    work = tmp / "add"
    work.mkdir(parents=True, exist_ok=True)
    staged = work / target
    try:
        shutil.copyfile(src, staged)
        info = _check_as(backends, staged, family=family)
        _install(staged, dest)
    finally:
        staged.unlink(missing_ok=True)
    return dest, info


def _check_as(backends: Mapping[str, Backend], path: Path, *, family: str | None) -> WeightsInfo:
    named = looked_up(backends).get(path.name)
    if named is not None:
        if family is not None and family != named[0]:
            raise Invalid(f"'{path.name}' is the name {named[0]} looks up, not a {family} file name")
        return backends[named[0]].check_weights(path, arch=named[1])
    return identify(backends, path, family=family)


# -- pulling --------------------------------------------------------------------------------------------


class _Retry(Exception):
    pass


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header ("bytes 100-199/1000", "bytes */1000")."""
    found = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if not found:
        return None, None
    start, total = found.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def download(url: str, part: Path, *, progress: Progress | None = None, retries: int = 5, timeout: float = 30.0,
             backoff: float = 0.5) -> None:
    """Fetch `url` into `part`, continuing what `part` already holds with a Range request after every
    broken transfer (a server that ignores Range sends it all again). Unavailable when it cannot finish."""
    import httpx

    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as resp:
                if resp.status_code == 416 and have:
                    _, total = _content_range(resp.headers.get("content-range"))
                    if total == have:
                        return
                    part.unlink()
                    raise _Retry("the server refused to continue the partial file")
                if resp.status_code in (408, 429) or resp.status_code >= 500:
                    raise _Retry(f"HTTP {resp.status_code}")
                if resp.status_code not in (200, 206):
                    raise Unavailable(f"{url}: HTTP {resp.status_code}", code="download_failed")
                total: int | None = None
                if resp.status_code == 206:
                    start, total = _content_range(resp.headers.get("content-range"))
                    if start != have:
                        part.unlink()
                        raise _Retry("the server answered another range")
                else:
                    have = 0
                    length = resp.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                with part.open("ab" if have else "wb") as out:
                    for chunk in resp.iter_bytes(1 << 20):
                        out.write(chunk)
                        have += len(chunk)
                        if progress is not None:
                            progress(have, total)
                if total is not None and have != total:
                    raise _Retry(f"the transfer ended at {have} of {total} bytes")
                return
        except (httpx.TransportError, _Retry) as exc:
            failures += 1
            if failures > retries:
                raise Unavailable(f"download of {url} failed after {retries} retries: {exc}",
                                  code="download_failed") from None
            time.sleep(min(10.0, backoff * 2 ** (failures - 1)))


def source_url(entry: Official, mirror: str | None) -> str:
    """The publisher's URL, or <mirror>/<upstream file name> when a mirror (RAYSIGHT_WEIGHTS_URL) is set."""
    return f"{mirror.rstrip('/')}/{entry.upstream_name}" if mirror else entry.url


def pull(backends: Mapping[str, Backend], folder: Path, name: str, *, tmp: Path, mirror: str | None = None,
         progress: Progress | None = None, retries: int = 5, timeout: float = 30.0, backoff: float = 0.5,
         force: bool = False) -> tuple[Path, WeightsInfo]:
    """Download the official file `name`, check it as `add` does and move it into the weights folder
    under the name its plugin looks up. Nothing of it is left behind when any step fails."""
    entry = find_official(name)
    if entry.family not in backends:
        raise Unavailable(f"the {entry.family} plugin is not loaded, so {entry.filename} cannot be checked")
    dest = folder / entry.filename
    if dest.exists() and not force:
        raise Invalid(f"'{entry.filename}' is already in the weights folder (use --force to download it again)")
    work = tmp / "pull"
    work.mkdir(parents=True, exist_ok=True)
    part, whole = work / f"{entry.filename}.part", work / entry.filename
    try:
        download(source_url(entry, mirror), part, progress=progress, retries=retries, timeout=timeout,
                 backoff=backoff)
        os.replace(part, whole)  # the family's check goes by the real suffix (.pt / .pth)
        info = backends[entry.family].check_weights(whole, arch=entry.arch)
        _install(whole, dest)
        return dest, info
    finally:
        part.unlink(missing_ok=True)
        whole.unlink(missing_ok=True)
