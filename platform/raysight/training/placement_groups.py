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

The controller also writes down its own process (`CONTROLLERS`: pid and start time). Ray 2.60 was seen to
leave a controller whose fit() process was killed alive for good: its actor dead for Ray, the process
stuck in its exit (~200 MB, polling a GCS that may be gone, parented to init once the cluster stops).
`release` ends such a process when it outlives the run by `CONTROLLER_GRACE_S`. (A run that ends in order
ends its controller itself: runner.sigint_handler_restored drops the handle Ray Train's SIGINT handler held.)
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ray import PlacementGroupID
from ray.train.v2._internal.execution.callback import WorkerGroupCallback
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

if TYPE_CHECKING:
    from ray.train.v2._internal.execution.worker_group import WorkerGroup

log = logging.getLogger(__name__)
RECORD = "raysight_placement_groups"  # in the job's folder (Ray Train's storage_path / name)
CONTROLLERS = "raysight_controllers"  # "<pid> <start time>" of each run's controller process, same folder
CONTROLLER_GRACE_S = 10.0  # a controller that ended in order is gone ~1 s after its fit() returned


class PlacementGroupRecord(WorkerGroupCallback):
    """Runs in the run's controller: appends each placement group the run holds to `path`, as soon as its
    worker group has started (before the train loop runs)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def after_worker_group_start(self, worker_group: WorkerGroup) -> None:
        group = worker_group.get_worker_group_state().placement_group_handle.placement_group
        me = f"{os.getpid()} {_start_time(os.getpid())}"
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="ascii") as out:
                out.write(group.id.hex() + "\n")
            with open(Path(self.path).with_name(CONTROLLERS), "a", encoding="ascii") as out:
                out.write(me + "\n")
        except OSError as exc:  # the run goes on; only a controller that dies would leave the group up
            log.warning("could not record placement group %s in %s: %s", group.id.hex(), self.path, exc)


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat): with the pid, who it is (a pid
    alone may have been reused); None when no such process runs."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def record_path(job_dir: Path) -> Path:
    return job_dir / RECORD


def release(job_dir: Path) -> int:
    """Remove the placement groups recorded in `job_dir` that are still up (a run's controller removes its
    own when it ends in order; these are what a dead controller left), then the record; and end, after a
    grace period, a recorded controller process still running. Returns how many groups were removed. Call
    it only when no run of the job is going on."""
    removed = _remove_groups(record_path(job_dir))
    _end_controllers(job_dir / CONTROLLERS)
    return removed


def _remove_groups(path: Path) -> int:
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


def _end_controllers(path: Path) -> None:
    """SIGKILL, after CONTROLLER_GRACE_S, each recorded controller process still running then (the same
    process: pid and start time), in a daemon thread; the record goes at once."""
    try:
        recorded = [line.split() for line in path.read_text(encoding="ascii").splitlines()]
    except OSError:
        return
    path.unlink(missing_ok=True)
    processes = [(int(pid), started) for pid, started in (r for r in recorded if len(r) == 2) if pid.isdigit()]
    if any(_start_time(pid) == started for pid, started in processes):
        timer = threading.Timer(CONTROLLER_GRACE_S, _kill_left, args=(processes,))
        timer.daemon = True
        timer.start()


def _kill_left(processes: list[tuple[int, str]]) -> None:
    for pid, started in processes:
        if _start_time(pid) != started:
            continue  # it ended in order (or the pid is another process now)
        try:
            os.kill(pid, signal.SIGKILL)
            log.warning("killed process %d: the Ray Train controller of an ended run was still running", pid)
        except OSError:
            pass
