"""The one generic model deployment class: hosts any plugin's backend.

Each replica keeps several models loaded (``@serve.multiplexed``, keyed by model id, LRU) and groups
concurrent predict calls (``@serve.batch``). Callers use a DeploymentHandle::

    handle.options(multiplexed_model_id=model_key).predict.remote(image_rgb, {"conf": 0.25})
    handle.options(multiplexed_model_id=model_key).run.remote("prompt", {...})   # family-specific ops
"""

from __future__ import annotations

from typing import Any

from ray import serve

from raysight.serving.config import ModelDeploymentOptions
from raysight.settings import Settings


@serve.deployment
class ModelDeployment:
    def __init__(self, backend_name: str, settings: dict[str, Any], options: dict[str, Any]) -> None:
        from raysight.plugins import load_plugins
        from raysight.store import Database

        self.settings = Settings(**settings)
        self.options = ModelDeploymentOptions.from_args(options)
        self.backend = load_plugins(self.settings.plugin_allowlist).backend(backend_name)
        self.db = Database(self.settings.db_url)
