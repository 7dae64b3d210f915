"""The per-process bundle of what services need: settings, database, workspace, plugins, and the
implementations of the ports (raysight.ports) this process was given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raysight.plugins import PluginRegistry, load_plugins
from raysight.ports import Cluster, JobRunner, Predictor
from raysight.settings import Settings
from raysight.store import Database
from raysight.workspace import Workspace


@dataclass
class Platform:
    """Built once per process (the ingress replica, a test, a CLI command) and passed to services.

    The ports are None where the process runs without Ray (unit tests, CLI commands); services then
    answer with an explicit state or error (a job stays `queued` with a `queue_reason` saying that no
    runner is attached; inference answers Unavailable; /health reports Ray as absent):

    - `predictor`: the model deployments (serving/predictor.py, set by the ingress);
    - `job_runner`: the training supervisor (training/client.py, attached by raysight.runtime);
    - `cluster`: the Ray cluster's resources, health and dashboard (serving/cluster.py).

    `extras` is per-process scratch state of services (sets of background tasks, the last sweep's
    time), never a way to reach Ray.
    """

    settings: Settings
    db: Database
    workspace: Workspace
    plugins: PluginRegistry
    predictor: Predictor | None = None
    job_runner: JobRunner | None = None
    cluster: Cluster | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, migrate: bool = True) -> Platform:
        workspace = Workspace(settings.workspace_dir).ensure()
        db = Database(settings.db_url)
        if migrate:
            db.upgrade()
        return cls(settings=settings, db=db, workspace=workspace, plugins=load_plugins(settings.plugin_allowlist))

    def close(self) -> None:
        self.db.dispose()
