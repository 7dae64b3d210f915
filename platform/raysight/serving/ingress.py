"""The single HTTP ingress: the FastAPI app bound to Serve with @serve.ingress. It holds no model."""

from __future__ import annotations

import functools
import logging
from typing import Any

import ray
from fastapi import FastAPI
from ray import serve

from raysight.api import create_app
from raysight.context import Platform
from raysight.serving.probes import dashboard_url, gpu_probe, ray_probe, serve_probe
from raysight.settings import Settings

log = logging.getLogger(__name__)
DASHBOARD_FROM_CLUSTER = "from-cluster"  # /health reports the address the cluster's dashboard registered


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=256)
@serve.ingress()
class Ingress:
    """The FastAPI app is built inside the replica (late-bound ingress), around this replica's
    Platform, so nothing is pickled from the driver but plain settings and handles."""

    def __init__(
        self,
        settings: dict[str, Any],
        model_handles: dict[str, Any],
        placements: dict[str, dict[str, Any]],
        dashboard: str | None = DASHBOARD_FROM_CLUSTER,
    ) -> None:
        from raysight import ray_metrics

        ray_metrics.install()
        platform = Platform.create(Settings.from_args(settings))
        platform.model_handles = dict(model_handles)
        platform.extras["placements"] = placements
        platform.extras["cluster_resources"] = ray.cluster_resources  # caps Train workers per job
        platform.extras["probes"] = {
            "ray": ray_probe,
            "serve": functools.partial(serve_probe, placements),
            "gpus": gpu_probe,  # AutoSele /gups_info
        }
        platform.extras["dashboard_url"] = dashboard_url if dashboard == DASHBOARD_FROM_CLUSTER else lambda: dashboard
        from raysight.serving.startup import on_ingress_start

        on_ingress_start(platform)
        self.platform = platform
        if platform.settings.binds_publicly and not platform.settings.api_key:
            log.warning(
                "raysight is bound to %s without RAYSIGHT_API_KEY: anyone who can reach it can use it",
                platform.settings.host,
            )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.platform)
