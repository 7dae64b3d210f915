"""build_app(args): the application serve_config.yaml names (`serve run serve_config.yaml`).

A composition root (with serving/ingress.py and raysight.runtime): the model deployments get the
registry reader (raysight.ports.ModelCatalog) from raysight.runtime."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import ray
from ray import serve
from ray.serve import Application

from raysight.plugins import load_plugins
from raysight.runtime import model_catalog
from raysight.serving.cluster import DASHBOARD_FROM_CLUSTER
from raysight.serving.config import ModelDeploymentOptions
from raysight.serving.ingress import Ingress
from raysight.serving.model_deployment import ModelDeployment
from raysight.settings import Settings

log = logging.getLogger(__name__)


def cluster_gpus() -> float:
    return float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0


def build_app(args: dict[str, Any] | None = None, *, secrets: dict[str, str] | None = None) -> Application:
    """One ingress plus one model deployment per discovered backend (built-in or third-party).

    args:
      settings: overrides of RAYSIGHT_* settings (workspace, database_url, ...)
      models:   per backend name, ModelDeploymentOptions (num_gpus, num_cpus, batching, autoscaling)
      ingress:  {num_cpus, num_replicas, max_ongoing_requests, max_queued_requests, retry_after_s}
      dashboard_url: the Ray dashboard's URL for /health (None: none; absent: as the cluster registered it)
    """
    args = dict(args or {})
    # `secrets`: the API key / database URL of an in-process caller (`raysight serve`), which never
    # puts them into args; `serve run` gets them from its environment instead
    settings = Settings(**{**(secrets or {}), **(args.get("settings") or {})})
    settings.write_secrets()  # the deployments get settings.as_args(), which holds no secret
    registry = load_plugins(settings.plugin_allowlist)
    gpus = cluster_gpus()
    model_args: dict[str, Any] = args.get("models") or {}
    handles: dict[str, Application] = {}
    placements: dict[str, dict[str, Any]] = {}
    grouping: dict[str, dict[str, Any]] = {}  # family -> how the ingress groups its predictions (if it does)
    for name in sorted(registry.backends):
        requested = ModelDeploymentOptions.from_args(model_args.get(name))
        opts = requested.placed(gpus)
        placements[name] = {
            "num_gpus_requested": requested.num_gpus,
            "num_gpus": opts.num_gpus,
            "num_cpus": opts.num_cpus,
            "device": "cuda" if opts.num_gpus > 0 else "cpu",
        }
        if (groups := opts.grouping()) is not None:
            grouping[name] = asdict(groups)
        if requested.num_gpus and not opts.num_gpus:
            log.warning("no GPU in the cluster: deployment %s runs on CPU", name)
        handles[name] = ModelDeployment.options(name=name, **opts.deployment_kwargs()).bind(
            name, settings.as_args(), opts_to_args(opts), model_catalog
        )
    ingress_args = args.get("ingress") or {}
    ingress = Ingress.options(
        ray_actor_options={"num_cpus": float(ingress_args.get("num_cpus", 0.1))},
        num_replicas=int(ingress_args.get("num_replicas", 1)),
        **ingress_queue_limits(ingress_args),
    )
    # `raysight serve` passes the dashboard URL it started (None: --no-dashboard); otherwise ask the cluster
    return ingress.bind(settings.as_args(), handles, placements, args.get("dashboard_url", DASHBOARD_FROM_CLUSTER),
                        grouping)


def ingress_queue_limits(ingress_args: dict[str, Any]) -> dict[str, Any]:
    """Optional back-pressure of the ingress itself (`ingress.max_ongoing_requests`, `max_queued_requests`,
    `retry_after_s`): past them Serve's proxy answers 503 with Retry-After (its own plain-text body)."""
    kwargs: dict[str, Any] = {}
    if "max_ongoing_requests" in ingress_args:
        kwargs["max_ongoing_requests"] = int(ingress_args["max_ongoing_requests"])
    if "max_queued_requests" in ingress_args:
        kwargs["max_queued_requests"] = int(ingress_args["max_queued_requests"])
        kwargs["backpressure_config"] = {"status_code": 503,
                                         "retry_after_s": float(ingress_args.get("retry_after_s", 1.0))}
    return kwargs


def opts_to_args(opts: ModelDeploymentOptions) -> dict[str, Any]:
    return asdict(opts)


__all__ = ["build_app", "serve"]
