"""The one typed configuration object. Nothing else in raysight reads os.environ."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(BaseSettings):
    """Every RAYSIGHT_* variable. Built once (from the environment or serve_config args) and passed in."""

    model_config = SettingsConfigDict(env_prefix="RAYSIGHT_", extra="ignore")

    workspace: Path = Field(default=Path("./workspace"), description="Folder for all files")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in workspace")
    host: str = "127.0.0.1"
    port: int = 8000
    ray_address: str | None = Field(default=None, description="Join this Ray cluster instead of a local one")
    serve_config: Path | None = Field(default=None, description="serve_config.yaml for `raysight serve`")
    plugins: str | None = Field(default=None, description="Comma-separated allow-list of plugin names")
    api_key: str | None = None
    max_upload_mb: int = 2048
    max_extract_mb: int = 8192
    max_extract_files: int = 200_000
    url_allowlist: str = ""
    url_timeout_s: float = 10.0
    url_max_mb: int = 50
    request_timeout_s: float = 60.0
    train_num_workers: int = 1
    train_use_gpu: bool = False
    train_cpus_per_worker: float = 1.0
    train_gpus_per_worker: float = 1.0
    max_concurrent_jobs: int = 1
    train_max_failures: int = Field(default=0, description="Ray Train worker-group restarts (from the last checkpoint)")
    train_checkpoints_keep: int = Field(default=2, description="checkpoints kept per training job")
    train_stop_timeout_s: float = Field(default=20.0, description="graceful stop wait before a forced cancel")
    seed: int = 0
    # -- cluster (issue 10): custom Ray resources each Train worker asks for, to pin training to labelled
    # nodes (`ray start --resources '{"trainer": 4}'`), as JSON: {"trainer": 1}
    train_worker_resources: dict[str, float] = Field(default_factory=dict)

    # -- derived values -------------------------------------------------
    @property
    def workspace_dir(self) -> Path:
        return self.workspace.expanduser().resolve()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.workspace_dir / 'raysight.db'}"

    @property
    def plugin_allowlist(self) -> set[str] | None:
        if not self.plugins:
            return None
        return {p.strip() for p in self.plugins.split(",") if p.strip()}

    @property
    def url_allowlist_entries(self) -> list[str]:
        return [e.strip() for e in self.url_allowlist.split(",") if e.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_extract_bytes(self) -> int:
        return self.max_extract_mb * 1024 * 1024

    @property
    def binds_publicly(self) -> bool:
        if self.host in LOOPBACK_HOSTS:
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return True

    def as_args(self) -> dict[str, object]:
        """Plain values to hand to Ray processes (which rebuild Settings from them)."""
        data = self.model_dump(mode="json")
        data["workspace"] = str(self.workspace_dir)
        return {k: v for k, v in data.items() if v is not None}


TRAIN_POLL_S = "0.5"


def ray_env() -> dict[str, str]:
    """Environment every Ray process of raysight gets (no hub downloads, no token auth locally)."""
    env = {"YOLO_OFFLINE": "1", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    # Ray Train's controller consumes each worker's reported result (a queue of one) only when it polls,
    # every 2 s by default: a run whose epochs are shorter waits for it at every report, and every state
    # change (start-up, end) waits a poll too. The supervisor and everything it starts inherit this.
    env["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", TRAIN_POLL_S)
    return env


def apply_process_env() -> None:
    """Defaults for this process before Ray starts: a local cluster without token auth (so that
    `serve status` and the dashboard work for a local user) and no ultralytics hub downloads."""
    for key, value in ray_env().items():
        os.environ.setdefault(key, value)
