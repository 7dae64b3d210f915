"""torch threads of a model replica (ModelDeploymentOptions.torch_threads)."""

from __future__ import annotations

import os

from raysight.serving.config import ModelDeploymentOptions


def test_cpu_replica_gets_the_cores_less_one_unless_cpu_threads_is_set() -> None:
    cores = len(os.sched_getaffinity(0))
    opts = ModelDeploymentOptions.from_args({"num_cpus": 0.25})
    assert opts.torch_threads("cpu") == max(1, cores - 1)  # num_cpus is a share, not a core count
    assert ModelDeploymentOptions.from_args({"num_cpus": 0.25, "cpu_threads": 3}).torch_threads("cpu") == 3
    assert opts.torch_threads("cuda") == 1  # the GPU does the work: round(num_cpus), at least 1
    assert ModelDeploymentOptions.from_args({"num_cpus": 2}).torch_threads("cuda") == 2


def test_cpu_replicas_share_the_cores() -> None:
    cores = len(os.sched_getaffinity(0))
    opts = ModelDeploymentOptions.from_args({"cpu_replicas": 2})
    assert opts.torch_threads("cpu") == max(1, (cores - 1) // 2)
    assert ModelDeploymentOptions.from_args({"cpu_replicas": 2, "cpu_threads": 3}).torch_threads("cpu") == 3
