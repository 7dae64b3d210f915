"""serve_config args of a family -> Serve deployment options (queues, back-pressure, placement)."""

from __future__ import annotations

from raysight.serving.app import ingress_queue_limits
from raysight.serving.config import ModelDeploymentOptions


def test_queue_limits_back_pressure_and_resources_reach_the_deployment() -> None:
    opts = ModelDeploymentOptions.from_args({"max_ongoing_requests": 4, "max_queued_requests": 16,
                                             "retry_after_s": 2, "resources": {"gpu_pool": 1}, "num_replicas": 2})
    kwargs = opts.deployment_kwargs()
    assert kwargs["max_ongoing_requests"] == 4 and kwargs["max_queued_requests"] == 16
    assert kwargs["backpressure_config"] == {"status_code": 503, "retry_after_s": 2}
    assert kwargs["ray_actor_options"]["resources"] == {"gpu_pool": 1}
    assert kwargs["num_replicas"] == 2 and opts.extra == {}


def test_defaults_queue_without_limit_and_ask_no_custom_resource() -> None:
    kwargs = ModelDeploymentOptions.from_args({}).deployment_kwargs()
    assert kwargs["max_queued_requests"] == -1
    assert "resources" not in kwargs["ray_actor_options"]
    assert ingress_queue_limits({}) == {}
    assert ingress_queue_limits({"max_queued_requests": 8}) == {
        "max_queued_requests": 8, "backpressure_config": {"status_code": 503, "retry_after_s": 1.0}}


def test_cpu_replicas_raise_autoscaling_only_on_a_cluster_without_gpus() -> None:
    scaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}
    opts = ModelDeploymentOptions.from_args({"num_gpus": 0.25, "cpu_replicas": 2, "autoscaling_config": scaling})
    on_gpu, on_cpu = opts.placed(1.0), opts.placed(0.0)
    assert on_gpu.autoscaling_config == scaling and on_gpu.num_gpus == 0.25  # a GPU cluster: as configured
    assert on_cpu.num_gpus == 0.0
    assert on_cpu.deployment_kwargs()["autoscaling_config"] == {**scaling, "min_replicas": 2, "max_replicas": 2}
    wide = ModelDeploymentOptions.from_args({"cpu_replicas": 3, "autoscaling_config": {"max_replicas": 1}})
    assert wide.placed(0.0).autoscaling_config == {"min_replicas": 3, "max_replicas": 3}
    fixed = ModelDeploymentOptions.from_args({"cpu_replicas": 2, "num_replicas": 1}).placed(0.0)
    assert fixed.deployment_kwargs()["num_replicas"] == 1  # an explicit count stays
