"""raysight.train_storage: which checkpoint folders of a run Ray Train's snapshot tracks, and removing the
ones it never registered (written while a run was stopped or killed) once the run has ended."""

from __future__ import annotations

import json
from pathlib import Path

from raysight import train_storage


def _run(tmp_path: Path, names: list[str], registered: list[str] | None) -> Path:
    run = tmp_path / "job_x"
    for name in names:
        (run / name).mkdir(parents=True)
        (run / name / "last.pt").write_bytes(b"x" * 10)
    (run / "work" / "yolo").mkdir(parents=True)
    if registered is not None:
        results = [{"checkpoint_dir_name": n, "metrics": {"epoch": i + 1}} for i, n in enumerate(registered)]
        snapshot = {"checkpoint_results": results, "latest_checkpoint_result": results[-1] if results else None}
        (run / train_storage.SNAPSHOT).write_text(json.dumps(snapshot))
    return run


def test_unregistered_checkpoint_folders_are_removed_and_registered_ones_kept(tmp_path: Path) -> None:
    run = _run(tmp_path, ["checkpoint_a", "checkpoint_b", "checkpoint_c"], registered=["checkpoint_a", "checkpoint_b"])
    assert train_storage.registered_dirs(run) == {"checkpoint_a", "checkpoint_b"}
    assert train_storage.prune_unregistered(run) == ["checkpoint_c"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint_a", "checkpoint_b", train_storage.SNAPSHOT, "work"]
    assert train_storage.latest(run)["path"] == str(run / "checkpoint_b")
    assert train_storage.prune_unregistered(run) == []


def test_without_a_readable_snapshot_nothing_is_removed(tmp_path: Path) -> None:
    run = _run(tmp_path, ["checkpoint_a"], registered=None)
    assert train_storage.prune_unregistered(run) == [] and (run / "checkpoint_a").is_dir()
    (run / train_storage.SNAPSHOT).write_text("{not json")
    assert train_storage.prune_unregistered(run) == [] and (run / "checkpoint_a").is_dir()
    assert train_storage.prune_unregistered(tmp_path / "missing") == []
