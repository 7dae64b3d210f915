"""Processes started ahead for the next training run, so that a run does not wait for them to start.

Every run of Ray Train starts new processes: its controller, a synchronization actor, and one process per
Train worker. On 2 cores each took 0.8-1.3 s to start (Python, Ray) and 0.8-1.1 s more to import Ray
Train's code, and the worker then imports torch and the family's library (ultralytics): about 5 s of a
run's 7-9 s start-up, one after the other.

Ray keeps processes that never ran anything in an idle pool and gives an actor one of them when its runtime
environment matches. So the platform asks the raylet of its node to start such processes ahead
(`prestart`): two in the controller's runtime environment (the controller, the synchronization actor) and
one in the Train workers' (one worker per job on one node: what a YOLO job uses). The workers' runtime
environment names a setup hook (`preload`) that Ray runs in each of its processes when it starts: the
process imports Ray Train's worker code, torch and every training family's modules
(`Backend.train_imports`; torch and Ray Train only on a node with GPUs, `gpu_node`) while it waits, idle.
A run then finds all three ready. The supervisor asks for those missing when it starts, after every run
(the run used them up) and every 10 s while no run runs.

Ray has no public call for this: it is the raylet's PrestartWorkers RPC (Ray 2.60), which Ray's own core
uses. A prestarted process is matched to an actor by the hash of its runtime environment as serialized
JSON; `runtime_envs` builds the same strings Ray builds for the controller and the workers (the parent's
environment merged with the child's, keys sorted, compact). Where anything of this is missing or fails
(another Ray, a cluster whose raylet refuses it), runs start their processes as before. The processes
stay at least `keep_alive_s` (settings.train_warm_keep_s); after that Ray may end them when its idle pool
is over its size.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HOOK = "raysight.training.warm_processes.preload"
TARGETS = (2, 1)  # processes kept waiting: the controller's (the controller, its SynchronizationActor), a worker's
# The raylet starts the processes after it answers: until they show, a second call would ask again. So an
# environment asked for is not asked for again within STARTING_S (a process that never showed up, e.g. one
# the raylet skipped while too many were starting, is asked for again after that).
STARTING_S = 30.0
_asked: dict[str, float] = {}  # environment -> when processes were last asked for (time.monotonic)
_lock = threading.Lock()
_preloaded: list[str] = []  # the modules `preload` imported in this process (empty: a process started cold)


def worker_runtime_env() -> dict[str, Any]:
    """RunConfig.worker_runtime_env of every run: the Train workers' processes import ahead. Ray turns a
    job's `worker_process_setup_hook` into the environment variable its worker processes read at start, but
    not an actor's; this does the same for the Train workers, with Ray's own function."""
    from ray._private.runtime_env.setup_hook import export_setup_func_module

    return dict(export_setup_func_module({"worker_process_setup_hook": HOOK}, HOOK))


def preload() -> None:
    """The Train workers' setup hook: import what a train loop needs, in a process that is still idle."""
    from raysight.plugins import load_plugins

    names = ["torch", "ray.train.torch.config", "ray.train.v2._internal.execution.worker_group.worker",
             "raysight.training.worker"]
    if not gpu_node():
        for backend in load_plugins().backends.values():
            names.extend(getattr(backend, "train_imports", ()))
    for name in dict.fromkeys(names):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library: the train loop reports it, as without a head start
            log.debug("preload of %s failed: %s", name, exc)
            continue
        _preloaded.append(name)


def gpu_node() -> bool:
    """Whether this machine has an NVIDIA driver. There a waiting process imports torch and Ray Train only:
    Ray sets a worker's CUDA_VISIBLE_DEVICES when it assigns the actor, and CUDA reads it once, when a
    process first asks for its devices. Importing torch does not ask; a family's library may (a device
    check at import), which would tie the process to every GPU of the node."""
    return Path("/dev/nvidiactl").exists()


def describe() -> str:
    """For the job log: whether this Train worker's process was started ahead, and what it had imported."""
    if not _preloaded:
        return "worker process started for this run"
    return f"worker process started ahead ({', '.join(_preloaded)} imported)"


def merged(parent: str, child: dict[str, Any]) -> str:
    """The runtime environment Ray gives a task or actor created with `child` inside a process with the
    serialized environment `parent`: env_vars merged (the child's win), other fields replaced."""
    env: dict[str, Any] = json.loads(parent) if parent else {}
    for key, value in child.items():
        env[key] = {**env.get(key, {}), **value} if key == "env_vars" else value
    return json.dumps(env, sort_keys=True, separators=(",", ":"))


def runtime_envs(parent: str) -> tuple[str, str]:
    """(controller's, Train workers') serialized runtime environments of a run whose fit() runs in a process
    with the environment `parent`, as Ray Train 2.60 builds them (data_parallel_trainer, worker_group)."""
    from ray.train.v2._internal.constants import (
        DEFAULT_RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_VALUE,
        RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR,
        get_env_vars_to_propagate,
    )

    env_vars = get_env_vars_to_propagate()
    env_vars.setdefault(RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR, DEFAULT_RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_VALUE)
    controller = merged(parent, {"env_vars": env_vars})
    custom = worker_runtime_env()
    worker_child = {**custom, "env_vars": {**get_env_vars_to_propagate(), **custom.get("env_vars", {})}}
    return controller, merged(controller, worker_child)


def prestart(keep_alive_s: int) -> int:
    """Top up this node's processes started ahead for the next run (see the module's doc) to
    TARGETS: two in the controller's runtime environment, one in the Train workers'. Called in a process
    whose runtime environment is that of the process fit() runs in (the supervisor, whose task that is).
    Returns how many it asked for: 0 where none were missing, or where Ray refused or lacks the call."""
    if keep_alive_s <= 0:
        return 0
    import ray

    if not ray.is_initialized():  # Ray's calls below would start a local cluster
        return 0
    from ray.core.generated import node_manager_pb2_grpc

    with _lock:
        try:
            context = ray.get_runtime_context()
            envs = runtime_envs(context.get_runtime_env_string())
            now = time.monotonic()
            wanted = [(env, target - have) for env, target, have in zip(envs, TARGETS, _ready(*envs), strict=True)
                      if target > have and now - _asked.get(env, -STARTING_S) >= STARTING_S]
            if wanted:
                job_id = bytes.fromhex(context.get_job_id())
                with _raylet_channel(context) as channel:
                    stub = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
                    for env, count in wanted:
                        stub.PrestartWorkers(_request(job_id, env, count, keep_alive_s), timeout=10)
                        _asked[env] = now
        except Exception as exc:  # a head start only: runs start their own processes
            log.info("no processes started ahead for the next training run: %s", exc)
            return 0
    return sum(count for _, count in wanted)


def ready() -> tuple[int, int]:
    """(controller's, Train workers') processes waiting on this machine for the runs this process starts."""
    import ray

    return _ready(*runtime_envs(ray.get_runtime_context().get_runtime_env_string()))


def _ready(controller: str, worker: str) -> tuple[int, int]:
    """Ray worker processes of this machine still starting (their command line names default_worker.py) or
    idle (their title: ray::IDLE) whose environment holds every variable of `controller` / `worker`. A Train
    worker's environment also holds all of the controller's variables: counted once, as a worker's."""
    import psutil

    want_controller = json.loads(controller).get("env_vars", {})
    want_worker = json.loads(worker).get("env_vars", {})
    counts = [0, 0]
    for proc in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(proc.info["cmdline"] or ())
            if not (line.startswith("ray::IDLE") or "default_worker.py" in line):
                continue
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if all(env.get(k) == v for k, v in want_worker.items()):
            counts[1] += 1
        elif all(env.get(k) == v for k, v in want_controller.items()):
            counts[0] += 1
    return counts[0], counts[1]


def _raylet_channel(context: Any) -> Any:
    """A gRPC channel to this node's raylet (with Ray's token auth where the cluster has it on)."""
    import ray
    from ray._private.grpc_utils import init_grpc_channel

    node = next(n for n in ray.nodes() if n["NodeID"] == context.get_node_id())
    return init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")


def _request(job_id: bytes, env: str, count: int, keep_alive_s: int) -> Any:
    from ray._private.utils import get_runtime_env_info
    from ray.core.generated import common_pb2, node_manager_pb2
    from ray.runtime_env import RuntimeEnv

    info = get_runtime_env_info(RuntimeEnv.deserialize(env), serialize=False)
    info.serialized_runtime_env = env  # the raylet matches processes by this exact string
    return node_manager_pb2.PrestartWorkersRequest(language=common_pb2.PYTHON, job_id=job_id, runtime_env_info=info,
                                                   keep_alive_duration_secs=keep_alive_s, num_workers=count)
