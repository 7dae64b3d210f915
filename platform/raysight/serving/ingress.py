"""The single HTTP ingress: the FastAPI app bound to Serve with @serve.ingress. It holds no model.

A composition root (with serving/app.py and raysight.runtime): it builds this replica's Platform with
the ports' implementations (the Predictor over the model deployments' handles, the Cluster) and hosts
the API on it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from ray import serve

from raysight.api import create_app
from raysight.context import Platform
from raysight.runtime import on_ingress_start
from raysight.serving.cluster import DASHBOARD_FROM_CLUSTER, RayCluster
from raysight.serving.grouping import Grouping
from raysight.serving.predictor import ServePredictor
from raysight.settings import Settings

log = logging.getLogger(__name__)


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
        grouping: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        from raysight import ray_metrics

        ray_metrics.install()
        platform = Platform.create(Settings.from_args(settings))
        groups = {family: Grouping(**spec) for family, spec in (grouping or {}).items()}
        platform.predictor = ServePredictor(model_handles, placements, groups)
        platform.cluster = RayCluster(placements, dashboard)  # its resources cap Train workers per job
        on_ingress_start(platform)
        self.platform = platform
        if platform.settings.binds_publicly and not platform.settings.api_key:
            log.warning(
                "raysight is bound to %s without RAYSIGHT_API_KEY: anyone who can reach it can use it",
                platform.settings.host,
            )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.platform)
