"""`raysight serve` as a user runs it: a subprocess that starts its own local Ray cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_port


@pytest.mark.slow
def test_raysight_serve_starts_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "RAYSIGHT_WORKSPACE": str(tmp_path / "ws"), "RAYSIGHT_PORT": str(port),
           "RAYSIGHT_PLUGINS": "yolo,resnet"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "raysight.cli", "serve"], cwd=Path(__file__).parents[2], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code == 200:  # the Serve proxy answers 404 until the app is deployed
                health = r.json()
                break
            time.sleep(0.5)
        assert health is not None, "server did not come up"
        assert health["database"]["ok"] and health["ray"]["ok"]
        assert set(health["plugins"]["loaded"]) == {"yolo", "resnet"}
        assert (tmp_path / "ws" / "raysight.db").is_file()
        # SIGTERM, as a service manager or `docker stop` sends it (Ctrl-C is the walk-through test's)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, output
        assert "raysight ready on" in output
        assert "shutting down" in output and "SIGTERM received" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
