"""Reading a job's Ray Train storage (plain Python, no Ray): which checkpoint a resume will start from.

Ray Train V2 keeps `checkpoint_manager_snapshot.json` in the run folder (<workspace>/jobs/<job id>/);
its `latest_checkpoint_result` is what `ray.train.get_checkpoint()` returns when the run is rebuilt
with the same name and storage path. A checkpoint a worker wrote but the controller had not yet
registered when the run was stopped or killed is not in it, so the snapshot, not the last report,
is the truth for `checkpoint_epoch`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SNAPSHOT = "checkpoint_manager_snapshot.json"


def _snapshot(run_dir: Path) -> dict[str, Any] | None:
    """The run's checkpoint manager snapshot, None when there is none or it does not parse."""
    try:
        return json.loads((Path(run_dir) / SNAPSHOT).read_text())
    except (OSError, ValueError):
        return None


def latest(run_dir: Path) -> dict[str, Any] | None:
    """{"path", "metrics"} of the run's latest registered checkpoint, or None."""
    snapshot = _snapshot(run_dir)
    if snapshot is None:
        return None
    result = snapshot.get("latest_checkpoint_result")
    if not result or not result.get("checkpoint_dir_name"):
        return None
    path = Path(run_dir) / result["checkpoint_dir_name"]
    if not path.is_dir():
        return None
    return {"path": str(path), "metrics": dict(result.get("metrics") or {})}


def latest_epoch(run_dir: Path) -> int | None:
    """The epoch of the checkpoint a resume starts from (None when there is none)."""
    found = latest(run_dir)
    if found is None:
        return None
    meta_file = Path(found["path"]) / "meta.json"
    try:
        return int(json.loads(meta_file.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        epoch = found["metrics"].get("epoch")
        return int(epoch) if epoch is not None else None


def registered_dirs(run_dir: Path) -> set[str] | None:
    """Names of the checkpoint folders the snapshot tracks (None when there is no readable snapshot)."""
    snapshot = _snapshot(run_dir)
    if snapshot is None:
        return None
    names = {str(r.get("checkpoint_dir_name")) for r in snapshot.get("checkpoint_results") or []}
    latest_result = snapshot.get("latest_checkpoint_result") or {}
    if latest_result.get("checkpoint_dir_name"):
        names.add(str(latest_result["checkpoint_dir_name"]))
    return names


def prune_unregistered(run_dir: Path) -> list[str]:
    """Remove the `checkpoint_*` folders of an ended run that its snapshot does not track: a checkpoint a
    worker wrote while the run was stopped or killed, which Ray Train never registered (so no resume reads
    it and `CheckpointConfig(num_to_keep)` never deletes it). Without a snapshot nothing was registered and
    nothing is removed (an unreadable snapshot must not cost the job its checkpoints). Returns the names
    removed. Call it only when no run of the job is active."""
    import shutil

    run_dir = Path(run_dir)
    keep = registered_dirs(run_dir) if run_dir.is_dir() else None
    if keep is None:
        return []
    removed = []
    for folder in sorted(run_dir.glob("checkpoint_*")):
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
