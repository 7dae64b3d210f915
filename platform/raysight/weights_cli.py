"""`raysight weights list | add FILE | pull NAME...`: the command-line side of raysight.weights."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from raysight.errors import RaysightError
from raysight.settings import Settings

BAR = 30


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self.label, self.last, self.done = label, 0.0, 0

    def __call__(self, done: int, total: int | None) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        mb = done / 2**20
        if total:
            filled = int(BAR * done / total)
            line = f"{self.label} [{'#' * filled}{'.' * (BAR - filled)}] {mb:.1f}/{total / 2**20:.1f} MB"
        else:
            line = f"{self.label} {mb:.1f} MB"
        sys.stderr.write(f"\r{line}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _context(ns: argparse.Namespace) -> tuple[Settings, Any, Any]:
    from raysight.plugins import load_plugins
    from raysight.workspace import Workspace

    settings = Settings(**({"workspace": ns.workspace} if ns.workspace else {}))
    workspace = Workspace(settings.workspace_dir).ensure()
    return settings, workspace, load_plugins(settings.plugin_allowlist).backends


def _describe(info: Any) -> str:
    classes = f", {info.num_classes} classes" if info.num_classes else ""
    return f"{info.family} {info.arch} ({info.format}{classes})"


def cmd_list(ns: argparse.Namespace) -> int:
    from raysight import weights

    _settings, workspace, backends = _context(ns)
    entries = weights.list_folder(backends, workspace.weights)
    print(f"weights folder: {workspace.weights}")
    for e in entries:
        fits = _describe(e.info) if e.info else f"UNUSABLE: {e.error}"
        used = f"  <- used by {e.looked_up_by}" if e.looked_up_by else ""
        if e.rename_to:
            used = f"  (no plugin looks this name up; named {e.rename_to} it would be used)"
        print(f"  {e.file:<28} {e.size / 2**20:9.1f} MB  {fits}{used}")
    if not entries:
        print("  (empty)")
    present = {e.file for e in entries if e.info is not None}
    print("what each plugin looks up there:")
    for family, backend in sorted(backends.items()):
        names = backend.weights_names()
        if not names:
            print(f"  {family:<8} no weights files")
            continue
        shown = []
        for file in names:
            pullable = next((o.name for o in weights.CATALOGUE if o.filename == file), None)
            mark = "[present]" if file in present else (f"[pull {pullable}]" if pullable else "")
            shown.append(f"{file} {mark}".strip())
        print(f"  {family:<8} " + ", ".join(shown))
    return 0


def cmd_add(ns: argparse.Namespace) -> int:
    from raysight import weights

    _settings, workspace, backends = _context(ns)
    dest, info = weights.add(backends, workspace.weights, ns.file, tmp=workspace.tmp, name=ns.name,
                             family=ns.family, force=ns.force)
    print(f"added {dest.name}: {_describe(info)}")
    return 0


def cmd_pull(ns: argparse.Namespace) -> int:
    from raysight import weights

    settings, workspace, backends = _context(ns)
    for name in ns.names:
        entry = weights.find_official(name)
        url = weights.source_url(entry, settings.weights_url)
        print(f"pulling {entry.filename} from {url}", file=sys.stderr)
        bar = ProgressBar(entry.filename)
        try:
            dest, info = weights.pull(backends, workspace.weights, name, tmp=workspace.tmp,
                                      mirror=settings.weights_url, progress=bar, retries=ns.retries,
                                      timeout=ns.timeout, force=ns.force)
        finally:
            bar.close()
        print(f"added {dest.name}: {_describe(info)}")
    return 0


def _guarded(func: Any) -> Any:
    def run(ns: argparse.Namespace) -> int:
        try:
            return int(func(ns))
        except RaysightError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1

    return run


def register(sub: Any) -> None:
    """Add the `weights` command to the CLI's subparsers."""
    p = sub.add_parser("weights", help="list, add or download model weights (<workspace>/weights/)")
    p.add_argument("--workspace", default=None, help="workspace folder (default RAYSIGHT_WORKSPACE)")
    cmds = p.add_subparsers(dest="weights_command", required=True)
    cmds.add_parser("list", help="what the weights folder holds and what each plugin looks up there") \
        .set_defaults(func=_guarded(cmd_list))
    a = cmds.add_parser("add", help="copy a weights file in after checking it fits its architecture")
    a.add_argument("file", type=Path)
    a.add_argument("--name", default=None, help="file name in the weights folder (default: the file's own)")
    a.add_argument("--family", default=None, help="model family (default: found from the name or the file)")
    a.add_argument("--force", action="store_true", help="replace a file of the same name")
    a.set_defaults(func=_guarded(cmd_add))
    pl = cmds.add_parser("pull", help="download official weights (or from RAYSIGHT_WEIGHTS_URL), checked")
    pl.add_argument("names", nargs="+", help="yolov8n, yolov8s, yolov8m, yolo11n, mobile_sam, sam_vit_b, "
                    "sam_vit_l, sam_vit_h, resnet18, resnet50")
    pl.add_argument("--retries", type=int, default=5, help="resumed attempts after a broken transfer")
    pl.add_argument("--timeout", type=float, default=30.0, help="connect/read timeout in seconds")
    pl.add_argument("--force", action="store_true", help="download again although the file is there")
    pl.set_defaults(func=_guarded(cmd_pull))
