"""A real multi-node Ray cluster (head + two worker nodes on this machine), in its own process
(tests/multinode_scenario.py): a process holds one Ray cluster, and this session's is the single-node one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("multinode")
    # a private Ray temp folder (short: Ray's sockets live there), so that no other ray.init() finds this cluster
    ray_tmp = tempfile.mkdtemp(prefix="rsmn", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    env["RAY_TMPDIR"] = ray_tmp
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.multinode_scenario", str(folder)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1200)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)  # three workspaces of checkpoints: the result is the JSON line
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    out = json.loads(lines[-1])
    print("multi-node timings (s):", out.get("timings_s"))
    return out


def test_the_cluster_ran_every_step(scenario: dict[str, Any]) -> None:
    assert scenario["nodes"] == ["head", "node_a", "node_b"] and scenario["driver_node"] == "head"
    assert scenario["errors"] == [], "\n".join(scenario["errors"])


def test_replicas_of_one_family_on_two_nodes_both_answer(scenario: dict[str, Any]) -> None:
    assert scenario["serve_statuses"] == [200]
    replicas = scenario["serve_replicas"]
    assert sorted(node for node, _ in replicas) == ["node_a", "node_b"], replicas
    assert all(batches >= 1 for _, batches in replicas), replicas
    assert scenario["serve_health_nodes"] == 3


def test_a_job_on_a_worker_node_streams_stops_resumes_and_registers(scenario: dict[str, Any]) -> None:
    assert scenario["train_worker_node"] in ("node_a", "node_b")
    assert scenario["log_lines_while_running"], "no epoch line reached the job log from the worker node"
    assert scenario["stopped"]["status"] == "stopped" and scenario["stopped"]["checkpoint_epoch"] >= 1
    assert scenario["resume_logged"] is True
    done = scenario["completed"]
    assert done["status"] == "completed" and done["model_id"], done
    assert done["epochs"] == list(range(1, 7))


def test_ray_train_restarts_a_job_on_the_surviving_node(scenario: dict[str, Any]) -> None:
    result = scenario["restart"]  # RAYSIGHT_TRAIN_MAX_FAILURES=1
    assert result["restarted_on"] in ("node_a", "node_b") and result["restarted_on"] != result["removed"]
    assert result["status"] == "completed" and result["model_id"], result
    assert result["epochs"][-1] == 8


def test_a_removed_node_ends_the_job_stopped_and_resumable(scenario: dict[str, Any]) -> None:
    result = scenario["node_dies"]  # RAYSIGHT_TRAIN_MAX_FAILURES=0
    assert result["status"] == "stopped" and result["error"].startswith("interrupted: "), result
    assert result["checkpoint_epoch"] >= 1
    assert result["resume"] == "queued"  # no worker node left until node_c joins
    assert result["resume_reason"].startswith("waiting for a node with trainer"), result
    after = result["after_resume"]  # it went on, on the node that joined, past the epoch it had reached
    assert after["status"] == "running" and after["node"] == "node_c", result
    assert after["epoch"] > result["epochs"][-1], result
