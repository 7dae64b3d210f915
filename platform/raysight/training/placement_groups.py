"""A run's placement groups: its Ray Train controller writes down each one it creates (`PlacementGroupRecord`,
a line in a file of the job's folder), and the job supervisor removes those still up once the run's task
has ended, whatever ended it (a finished fit(), a killed fit() process, a forced stop, a controller that
died), and those of runs interrupted while no supervisor watched.

This stands in for Ray Train 2.60's PlacementGroupCleaner, a detached actor started for every run that
removes the run's group if the controller dies without removing it (runner.RaysightTrainer leaves it out
where a record is kept). The cleaner watches the controller through the state API every second, which
needs the dashboard: without one (`raysight serve --no-dashboard`, the tests) it never sees the controller
die, so it never cleans up and never exits, and the group's CPUs stay taken. It is also a Python process
(~1 s of CPU) started while the run starts, and stopping it costs the end of every run about a second.

A file, not a call to the supervisor: the controller then needs no handle to it (resolving a named actor
imports its class's module, and with it torch), and the record outlives a supervisor that dies. The
controller runs on the supervisor's node (runner: the run's task is pinned there, and Ray Train keeps its
controller on the node of fit()), so the file is local to both. This module imports no torch
(training.one_worker).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ray import PlacementGroupID
from ray.train.v2._internal.execution.callback import WorkerGroupCallback
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

if TYPE_CHECKING:
    from ray.train.v2._internal.execution.worker_group import WorkerGroup

log = logging.getLogger(__name__)
RECORD = "raysight_placement_groups"  # in the job's folder (Ray Train's storage_path / name)


class PlacementGroupRecord(WorkerGroupCallback):
    """Runs in the run's controller: appends each placement group the run holds to `path`, as soon as its
    worker group has started (before the train loop runs)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def after_worker_group_start(self, worker_group: WorkerGroup) -> None:
        group = worker_group.get_worker_group_state().placement_group_handle.placement_group
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="ascii") as out:
                out.write(group.id.hex() + "\n")
        except OSError as exc:  # the run goes on; only a controller that dies would leave the group up
            log.warning("could not record placement group %s in %s: %s", group.id.hex(), self.path, exc)


def record_path(job_dir: Path) -> Path:
    return job_dir / RECORD


def release(job_dir: Path) -> int:
    """Remove the placement groups recorded in `job_dir` that are still up (a run's controller removes its
    own when it ends in order; these are what a dead controller left), then the record. Returns how many
    were removed. Call it only when no run of the job is going on."""
    path = record_path(job_dir)
    try:
        ids = path.read_text(encoding="ascii").split()
    except OSError:  # no run got as far as a worker group, or the job is gone
        return 0
    removed = 0
    for hex_id in dict.fromkeys(ids):
        try:
            group = PlacementGroup(PlacementGroupID.from_hex(hex_id))
            if placement_group_table(group).get("state", "REMOVED") == "REMOVED":
                continue
            remove_placement_group(group)
            removed += 1
        except Exception as exc:  # a clean-up: never fail the end of a run
            log.warning("removing placement group %s: %s", hex_id, exc)
    path.unlink(missing_ok=True)
    return removed
