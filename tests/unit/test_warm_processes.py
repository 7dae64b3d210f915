"""training.warm_processes without a cluster: the runtime environments Ray Train gives a run's processes,
the count of processes that wait in them, and the preload hook. The integration test
(test_training.py::test_stop_and_resume_continue_the_epoch_count) checks the same against a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from raysight.training import warm_processes

PARENT = '{"env_vars":{"RAY_AUTH_MODE":"disabled","YOLO_OFFLINE":"1"}}'
HOOK_VAR = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"


def test_merged_adds_env_vars_replaces_other_fields_and_serializes_like_ray() -> None:
    out = warm_processes.merged('{"env_vars":{"A":"1","B":"2"},"pip":["x"]}', {"env_vars": {"B": "3"}, "pip": ["y"]})
    assert out == '{"env_vars":{"A":"1","B":"3"},"pip":["y"]}'  # keys sorted, no spaces: Ray's own string
    assert warm_processes.merged("", {"env_vars": {"A": "1"}}) == '{"env_vars":{"A":"1"}}'


def test_the_workers_environment_is_the_controllers_plus_the_preload_hook() -> None:
    controller, worker = warm_processes.runtime_envs(PARENT)
    controller_vars = json.loads(controller)["env_vars"]
    assert controller_vars["YOLO_OFFLINE"] == "1" and controller_vars["RAY_WARN_BLOCKING_GET_INSIDE_ASYNC"] == "0"
    assert HOOK_VAR not in controller_vars
    worker_env = json.loads(worker)
    assert worker_env["env_vars"] == {**controller_vars, HOOK_VAR: warm_processes.HOOK}
    assert worker_env["worker_process_setup_hook"] == warm_processes.HOOK
    # what build_trainer hands Ray Train for the workers is what the hook variable came from
    assert warm_processes.worker_runtime_env()["env_vars"] == {HOOK_VAR: warm_processes.HOOK}


@contextmanager
def waiting(env: dict[str, str]) -> Iterator[None]:
    """A process that looks like a Ray worker still starting (its command line names default_worker.py)
    with the environment variables `env`."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "default_worker.py"],
                            env={**os.environ, **env})
    try:
        time.sleep(0.3)
        yield
    finally:
        proc.kill()
        proc.wait()


def test_ready_counts_waiting_processes_by_environment() -> None:
    controller, worker = warm_processes.runtime_envs(PARENT)
    controller_vars, worker_vars = json.loads(controller)["env_vars"], json.loads(worker)["env_vars"]
    before = warm_processes._ready(controller, worker)
    with waiting(controller_vars), waiting(controller_vars), waiting(worker_vars):
        assert warm_processes._ready(controller, worker) == (before[0] + 2, before[1] + 1)
        with waiting({**controller_vars, "YOLO_OFFLINE": "0"}):  # another environment: not counted
            assert warm_processes._ready(controller, worker) == (before[0] + 2, before[1] + 1)
    assert warm_processes._ready(controller, worker) == before


def test_prestart_asks_for_nothing_when_turned_off_or_without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    assert warm_processes.prestart(0) == 0
    # without a connected Ray it calls nothing of Ray's (those calls would start a local cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: pytest.fail("prestart called into Ray"))
    assert warm_processes.prestart(3600) == 0


def test_preload_imports_the_training_families_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_processes, "_preloaded", [])
    assert warm_processes.describe() == "worker process started for this run"
    warm_processes.preload()
    assert {"torch", "ultralytics", "raysight_yolo.train", "torchvision", "raysight_resnet.train"} <= set(
        warm_processes._preloaded)
    assert warm_processes.describe().startswith("worker process started ahead (torch, ")


def test_on_a_gpu_node_preload_imports_no_family_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """A family's library may ask CUDA for its devices at import, before Ray has set the worker's
    CUDA_VISIBLE_DEVICES: on a node with GPUs only torch and Ray Train are imported ahead."""
    monkeypatch.setattr(warm_processes, "_preloaded", [])
    monkeypatch.setattr(warm_processes, "gpu_node", lambda: True)
    warm_processes.preload()
    assert "torch" in warm_processes._preloaded
    assert not {"ultralytics", "torchvision", "raysight_yolo.train"} & set(warm_processes._preloaded)
