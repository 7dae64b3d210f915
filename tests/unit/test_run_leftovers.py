"""A run's controller process that outlives its run (placement_groups: Ray 2.60 was seen to leave one stuck
in its exit after its fit() process was killed) is ended after the grace period; one that ended in order,
or a pid that is another process now, is left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from raysight.training import placement_groups


def test_a_recorded_controller_still_running_after_the_grace_is_killed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement_groups, "CONTROLLER_GRACE_S", 0.2)
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # same pid, other start
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        record = tmp_path / placement_groups.CONTROLLERS
        started = placement_groups._start_time(stuck.pid)
        assert started is not None
        record.write_text(f"{stuck.pid} {started}\n{reused.pid} 1\n{gone.pid} {started}\n")
        placement_groups.release(tmp_path)  # no placement group recorded: the controllers alone
        assert not record.exists()
        assert stuck.wait(timeout=10) == -9
        time.sleep(0.5)
        assert reused.poll() is None  # its start time is not the recorded one: not the controller
    finally:
        for proc in (stuck, reused):
            proc.kill()
            proc.wait()
