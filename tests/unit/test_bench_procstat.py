"""bench/procstat: the per-process CPU the benches print (bench/training's "CPU beside the worker", bench/serving's
CPU per request) goes to the process that spent it, under a readable name."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench import procstat

BUSY_THEN_IDLE = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(30)"


def test_a_busy_process_gets_its_cpu_under_its_name() -> None:
    before = procstat.snapshot()
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", BUSY_THEN_IDLE])
    try:
        while procstat.cpu_s(child.pid) < 0.5 and time.monotonic() - started < 20:
            time.sleep(0.05)
        after = procstat.snapshot()
        seconds = time.monotonic() - started
        shares = dict(procstat.shares(before, after, seconds))
    finally:
        child.kill()
        child.wait()
    assert procstat.process_name(child.pid) == ""  # gone
    mine = [(name, share) for name, share in shares.items() if name.endswith(f"#{child.pid}")]
    assert [name for name, _ in mine] == [f"{Path(sys.executable).name} -c#{child.pid}"]
    # its 0.5 s of CPU (and its start) over the window, on one core at most (+ a clock tick)
    assert 100 * 0.5 / seconds <= mine[0][1] <= 105


def test_names() -> None:
    child = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        names, deadline = [], time.monotonic() + 20
        while "http.server" not in names and time.monotonic() < deadline:  # until the child has exec'd
            names.append(procstat.process_name(child.pid))
            time.sleep(0.02)
        assert names[-1] == "http.server", names
    finally:
        child.kill()
        child.wait()
    assert procstat.cpu_s(child.pid) == 0.0  # gone
