"""The one typed configuration object. Nothing else in raysight reads os.environ."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(BaseSettings):
    """Every RAYSIGHT_* variable. Built once (from the environment or serve_config args) and passed in."""

    model_config = SettingsConfigDict(env_prefix="RAYSIGHT_", extra="ignore")

    workspace: Path = Field(default=Path("./workspace"), description="Folder for all files")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in workspace")
    host: str = "127.0.0.1"
    port: int = 8000
    direct_ingress: bool = Field(default=True, description="`raysight serve` on its own cluster: the ingress "
                                 "replica answers on `port` itself, without Serve's proxy in between")
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
    train_warm_keep_s: int = Field(default=86400, ge=0, description="how long the processes started ahead for the "
                                   "next training run are kept at least (training.warm_processes); 0: none")
    seed: int = 0
    # -- model weights (`raysight weights pull`) --
    weights_url: str | None = Field(default=None, description="mirror base URL: pull fetches <base>/<file name>")

    # -- hardening (issue 9): cross-site, body and resource limits, caps on work --
    allowed_hosts: str = Field(default="", description="extra Host names served besides loopback and `host` ('*' any)")
    cors_origins: str = Field(default="", description="origins allowed to call the API from a browser ('*' any)")
    max_image_mb: int = Field(default=20, description="largest body of a single-image request (413 above)")
    max_image_pixels: int = Field(default=50_000_000, description="largest image decoded on any path, in pixels")
    video_max_pixels: int = Field(default=8_294_400, description="largest video frame (width x height)")
    video_max_frames: int = Field(default=18_000, description="most frames of an inferred video")
    data_yaml_max_kb: int = Field(default=256, description="largest data.yaml (or classes file) of a dataset")
    max_classes: int = Field(default=10_000, description="most classes of a dataset")
    uploads_retention_h: float = Field(default=168.0, description="uploads/ files older than this are swept (0 keeps)")
    max_data_workers: int = Field(default=4, description="most data-loader processes (params.workers)")
    max_queued_jobs: int = Field(default=20, description="most training jobs waiting as queued")
    max_async_tasks: int = Field(default=8, description="most async ingest tasks in flight")
    max_urls_per_request: int = Field(default=256, description="most image URLs in one request")

    # -- plugin capabilities (issue 12, plugin contract) --
    capability_providers: str = Field(
        default="", description="which backend provides a capability, e.g. 'read_text=my_ocr,segment_with_prompts=sam'")

    @field_validator("capability_providers")
    @classmethod
    def _check_capability_providers(cls, value: str) -> str:
        from raysight.capabilities import parse_preferences

        parse_preferences(value)
        return value

    @property
    def capability_preferences(self) -> dict[str, str]:
        """{capability: backend name} from RAYSIGHT_CAPABILITY_PROVIDERS."""
        from raysight.capabilities import parse_preferences

        return {str(cap): name for cap, name in parse_preferences(self.capability_providers).items()}

    @property
    def max_image_bytes(self) -> int:
        return self.max_image_mb * 1024 * 1024

    @property
    def trusted_hosts(self) -> set[str]:
        """Host names this server answers to: loopback, the bound host (unless a wildcard address) and
        RAYSIGHT_ALLOWED_HOSTS; '*' in the latter allows any."""
        names = set(LOOPBACK_HOSTS)
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.lower())
        names.update(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())
        return names

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def secret_values(self) -> dict[str, str]:
        """The settings that must never appear in Ray/Serve arguments: the API key, and the database
        URL when it holds a password."""
        found: dict[str, str] = {}
        if self.api_key:
            found["api_key"] = self.api_key
        if self.database_url and _has_password(self.database_url):
            found["database_url"] = self.database_url
        return found

    @property
    def secrets_file(self) -> Path:
        return self.workspace_dir / ".secrets" / "settings.json"

    def write_secrets(self) -> None:
        """Hand the secrets to this workspace's Ray processes: <workspace>/.secrets/settings.json, mode
        0600 in a 0700 folder (removed when there is none), read back by `from_args`."""
        path = self.secrets_file
        secrets = self.secret_values()
        if not secrets:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(secrets, fh)
        os.replace(tmp, path)

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Settings:
        """Settings in a Ray process: `as_args` values plus the secrets file of their workspace
        (which wins over this process's environment; explicit args win over both)."""
        probe = cls(**args)
        try:
            secrets = json.loads(probe.secrets_file.read_text())
        except (OSError, ValueError):
            return probe
        extra = {k: v for k, v in secrets.items() if k in ("api_key", "database_url") and k not in args}
        return cls(**{**extra, **args}) if extra else probe

    # -- cluster (issue 10): custom Ray resources each Train worker asks for, to pin training to labelled
    # nodes (`ray start --resources '{"trainer": 4}'`), as JSON: {"trainer": 1}
    train_worker_resources: dict[str, float] = Field(default_factory=dict)

    # -- server folders (PaddleX / AutoSele imports): a request may name a folder on the server only if it
    # lies under one of these roots (os.pathsep- or comma-separated); empty = no server folder is allowed
    import_roots: str = Field(default="", description="folders whose contents requests may import from or write to")

    # -- derived values -------------------------------------------------
    @property
    def import_root_list(self) -> list[Path]:
        parts = [p.strip() for chunk in self.import_roots.split(",") for p in chunk.split(os.pathsep)]
        return [Path(p).expanduser().resolve() for p in parts if p]

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
        """Plain values to hand to Ray processes (which rebuild Settings with `from_args`). Secrets are
        left out: Serve shows deployment arguments in its dashboard; they travel by `write_secrets`."""
        data = self.model_dump(mode="json")
        data["workspace"] = str(self.workspace_dir)
        return {k: v for k, v in data.items() if v is not None and k not in self.secret_values()}


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return True


# -- settings precedence of `raysight serve` (first-hour work) -------------------------------------------------


def layered_settings(
    *, file_values: dict[str, object] | None = None, flags: dict[str, object] | None = None
) -> Settings:
    """Settings for `raysight serve`: command-line flags > environment (RAYSIGHT_*) > `args.settings` of
    serve_config.yaml > defaults. Flags and file values that are None count as not given."""
    from_env = Settings()
    env_values = {name: getattr(from_env, name) for name in from_env.model_fields_set}
    given_flags = {k: v for k, v in (flags or {}).items() if v is not None}
    file_known = {k: v for k, v in (file_values or {}).items() if k in Settings.model_fields and v is not None}
    return Settings(**{**file_known, **env_values, **given_flags})


TRAIN_POLL_S = "0.5"
PREEMPTION_WATCHER = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
LOG_MONITOR = {"RAY_LOG_MONITOR_MANY_FILES_THRESHOLD": "0", "LOG_NAME_UPDATE_INTERVAL_S": "2"}


def ray_env(*, local: bool = True) -> dict[str, str]:
    """Environment every Ray process of raysight gets (no hub downloads). Token auth is turned off only
    for a local cluster (`local`: raysight starts it, its dashboard on loopback); a cluster joined by
    address keeps whatever its operator set (RAY_AUTH_MODE / RAY_AUTH_TOKEN of this process)."""
    env = {"YOLO_OFFLINE": "1"}
    if local or "RAY_AUTH_MODE" in os.environ:
        env["RAY_AUTH_MODE"] = os.environ.get("RAY_AUTH_MODE", "disabled")
    # Ray Train's controller consumes each worker's reported result (a queue of one) only when it polls,
    # every 2 s by default: a run whose epochs are shorter waits for it at every report, and the end of a
    # run waits a poll too. A poll is an actor call into every worker, which interrupts its train loop: a
    # worker that trains on all the cores of its node loses ~10 % per epoch at 0.1 s (2 threads on 2
    # cores, bench/training.py and Ray Train alone), ~3 % at 0.5 s. A job completes from its final report,
    # not from the end of the run, so 0.5 s costs the end of the run (~2 s instead of 1 s: the slot, the
    # clean-up), not the job. The supervisor and everything it starts inherit this.
    env["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", TRAIN_POLL_S)
    if local:
        # Ray Train starts a preemption watcher process per run that polls for nodes being drained (spot
        # instances, autoscaler scale-down). The cluster raysight starts is this one node, which nothing
        # drains: no watcher, one process start less while the first epoch runs. A joined cluster keeps
        # Ray Train's default.
        env[PREEMPTION_WATCHER] = os.environ.get(PREEMPTION_WATCHER, "0")
        # Ray's log monitor looks for new worker log files every 0.1 s while a session has fewer than
        # 1000 of them: a glob of the whole log folder ten times a second, ~1.5 % of a core beside a job
        # training on every core of 2 (where it costs the job about twice that). Once every 2 s instead:
        # a new worker's first lines reach the driver's output up to 2 s later, none is lost.
        env.update({key: os.environ.get(key, value) for key, value in LOG_MONITOR.items()})
    return env


# Ray Serve's request path, read by every Serve process (proxy, replicas) when it starts. By default a
# replica runs the application's code on a second event loop in its own thread and every process that
# holds a DeploymentHandle routes on a third loop, so each request crosses threads twice per hop. Both off
# (Serve's "throughput optimized" settings) cut the CPU a request costs the proxy and the ingress by about
# a fifth on 2 cores (bench/serving.py). The price: application code that blocks the event loop also
# delays Serve's own work on it. raysight's model deployments predict in executor threads and the
# ingress calls handles from async code only, which this needs (a handle used outside an event loop
# raises with the router on the caller's loop).
#
# Serve writes every replica's log lines, one access line per request among them, to the replica's log file
# and, by default, to its stderr too, from where Ray's log monitor reads them again and sends them through
# the GCS to the driver's console: two lines per inference request through three more processes. Off (also
# part of Serve's "throughput optimized" mode); the lines stay in the log files, which the Ray dashboard
# shows per replica.
#
# Ray's own limit for passing an object inside the call instead of through the shared-memory object store
# (100 KiB by default) is raised to INLINE_OBJECT_BYTES: a typical upload (a JPEG of 50-500 KB) then
# travels from the ingress to a model replica in the call itself, without a store round trip that costs
# each side a few milliseconds on 2 cores (bench/serving.py, together with yolo's batching without a
# wait: 128 px c16 13-25% more requests per second, c1 about 40%). Bigger objects (decoded video
# frames, large uploads) still use the store.
INLINE_OBJECT_BYTES = 1024 * 1024
SERVE_ENV = {
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
    "RAY_SERVE_LOG_TO_STDERR": "0",
    "RAY_max_direct_call_object_size": str(INLINE_OBJECT_BYTES),
}


def serve_env(app_env: dict[str, Any] | None = None) -> dict[str, str]:
    """Environment of the Ray processes `raysight serve` starts Serve in: Serve's request-path settings
    (SERVE_ENV), then serve_config.yaml's application `runtime_env.env_vars` (`app_env`, what `serve
    deploy` gives the replicas). A variable set in this process's environment wins over both. Never
    applied to this process: a handle it created would need an event loop."""
    return _user_wins({**SERVE_ENV, **{str(k): str(v) for k, v in (app_env or {}).items()}})


def direct_ingress_env(port: int) -> dict[str, str]:
    """Serve's direct ingress on `port`: the one ingress replica runs the HTTP server itself, so a request
    skips Serve's proxy, a process and a hop (on 2 cores about a third of a small image's CPU, measured in
    bench/serving.py). For the single-node cluster `raysight serve` starts, whose one ingress replica
    takes the port range [port, port + 1): no load balancer to wait for when it stops (no draining
    period) and its port is free again at once after a restart (no quarantine). Serve still starts its
    proxy on the head node, on another port (cli.cmd_serve). A variable set in this process's
    environment wins."""
    env = {
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0",
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
    }
    return _user_wins(env)


def _user_wins(env: dict[str, str]) -> dict[str, str]:
    """`env`, with the value this process's environment gives a variable where it gives one."""
    return {key: os.environ.get(key, value) for key, value in env.items()}


def apply_process_env(*, local: bool = True) -> None:
    """Defaults for this process before Ray starts: a local cluster without token auth (so that
    `serve status` and the dashboard work for a local user; never for a joined cluster) and no
    ultralytics hub downloads."""
    for key, value in ray_env(local=local).items():
        os.environ.setdefault(key, value)
