"""The per-process bundle of what services need: settings, database, workspace, plugins, Ray glue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raysight.plugins import PluginRegistry, load_plugins
from raysight.settings import Settings
from raysight.store import Database
from raysight.workspace import Workspace


@dataclass
class Platform:
    """Built once per process (the ingress replica, a test, a CLI command) and passed to services.

    `model_handles` maps a backend name to its Serve DeploymentHandle (empty without Serve);
    `extras` is where Ray-side helpers (training supervisor, task runner...) hang their state.
    """

    settings: Settings
    db: Database
    workspace: Workspace
    plugins: PluginRegistry
    model_handles: dict[str, Any] = field(default_factory=dict)
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
