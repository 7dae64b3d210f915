"""`raysight serve` and friends."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from raysight import weights_cli
from raysight.settings import (
    Settings,
    apply_process_env,
    direct_ingress_env,
    layered_settings,
    ray_env,
    serve_env,
)

log = logging.getLogger("raysight")
DEFAULT_APP = {"name": "raysight", "route_prefix": "/", "import_path": "raysight.serving.app:build_app", "args": {}}


def load_serve_config(path: Path | None) -> dict[str, Any]:
    """The raysight application entry of serve_config.yaml (defaults if there is no file)."""
    if path is None:
        candidate = Path("serve_config.yaml")
        path = candidate if candidate.is_file() else None
    if path is None:
        return dict(DEFAULT_APP)
    config = yaml.safe_load(path.read_text()) or {}
    for app in config.get("applications", []):
        if app.get("import_path", "").startswith("raysight.serving.app"):
            return {**DEFAULT_APP, **app}
    raise SystemExit(f"{path} declares no raysight application (import_path raysight.serving.app:build_app)")


def app_env(app_cfg: dict[str, Any]) -> dict[str, Any]:
    """The application's `runtime_env.env_vars` in serve_config.yaml."""
    return dict((app_cfg.get("runtime_env") or {}).get("env_vars") or {})


def direct_ingress(settings: Settings, app_cfg: dict[str, Any], *, local: bool) -> bool:
    """Whether `raysight serve` gives the ingress the port itself (Settings.direct_ingress): on its own
    cluster only, with the one ingress replica the port can hold, and without an ingress queue limit
    (`ingress.max_queued_requests` is enforced by Serve's proxy, which direct requests skip)."""
    ingress = (app_cfg.get("args") or {}).get("ingress") or {}
    return (local and settings.direct_ingress and int(ingress.get("num_replicas", 1)) == 1
            and "max_queued_requests" not in ingress)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """SystemExit with a clear message when `host:port` cannot be listened on (in use, or not this
    machine's address), before Ray starts: otherwise Serve's start fails minutes later in a traceback."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"raysight serve: cannot listen on {host}:{port} ({exc.strerror}); stop what uses "
                             "it or choose another with --port / RAYSIGHT_PORT") from None


def serve_app_args(settings: Settings, app_cfg: dict[str, Any]) -> dict[str, Any]:
    """build_app's arguments for `raysight serve`: serve_config's args plus the settings (no secret:
    build_app reads those from this process and hands them over by the workspace's secrets file)."""
    args = dict(app_cfg.get("args") or {})
    args["settings"] = settings.as_args()  # `settings` already holds the file's values (layered_settings)
    return args


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


def cmd_serve(ns: argparse.Namespace) -> int:
    flags = {"host": ns.host, "port": ns.port, "workspace": ns.workspace}
    app_cfg = load_serve_config(ns.config or Settings().serve_config)
    # flags > environment > the file's args.settings > defaults (see layered_settings)
    settings = layered_settings(file_values=(app_cfg.get("args") or {}).get("settings") or {}, flags=flags)
    local = settings.ray_address is None
    direct = direct_ingress(settings, app_cfg, local=local)
    check_port(settings.host, settings.port)
    apply_process_env(local=local)

    import ray
    from ray import serve

    from raysight.serving.app import build_app

    # Handlers first: a Ctrl-C during start-up still shuts down cleanly below.
    stop = threading.Event()
    _stop_on_signals(stop)
    started = time.monotonic()
    # The dashboard of a local cluster listens on loopback only (it has no authentication); on a cluster
    # reach it through an ssh tunnel or a port-forward (README).
    dashboard = {"include_dashboard": ns.dashboard, "dashboard_host": "127.0.0.1"} if local else {}
    context = ray.init(
        # "local": a new cluster of this machine. None would join the last cluster anyone started here
        # (Ray reads /tmp/ray/ray_current_cluster), e.g. another user's or a test's.
        address=settings.ray_address or "local",
        runtime_env={"env_vars": {**ray_env(local=local), **serve_env(app_env(app_cfg)),
                                  **(direct_ingress_env(settings.port) if direct else {})}},
        logging_level=logging.WARNING,
        **dashboard,
    )
    _stop_on_signals(stop)  # ray.init installs its own SIGTERM handler (a stack dump, then abort)
    dashboard_url = getattr(context, "dashboard_url", None)
    if dashboard_url:
        print(f"Ray dashboard: http://{dashboard_url}", flush=True)
    # with direct ingress the ingress replica listens on settings.port; Serve's proxy (started anyway) on another
    serve.start(http_options={"host": settings.host,
                              "port": _free_port(settings.host) if direct else settings.port})
    args = serve_app_args(settings, app_cfg)
    if local:  # Ray runs a headless dashboard process even without the UI: say what was started
        args["dashboard_url"] = f"http://{dashboard_url}" if dashboard_url else None
    app = build_app(args, secrets=settings.secret_values())
    serve.run(app, name=app_cfg["name"], route_prefix=app_cfg.get("route_prefix", "/"))
    print(
        f"raysight ready on http://{settings.host}:{settings.port} "
        f"(workspace {settings.workspace_dir}, {time.monotonic() - started:.1f}s)",
        flush=True,
    )
    stop.wait()
    print("shutting down...", flush=True)
    try:
        serve.shutdown()
    finally:
        ray.shutdown()
    return 0


def cmd_migrate(_ns: argparse.Namespace) -> int:
    from raysight.store import Database

    settings = Settings()
    Database(settings.db_url).upgrade()
    print(f"database at head: {settings.db_url}")
    return 0


def cmd_plugins(_ns: argparse.Namespace) -> int:
    from raysight.plugins import load_plugins

    registry = load_plugins(Settings().plugin_allowlist)
    for info in registry.describe():
        print(f"{info['name']:<12} {info['task']:<10} {','.join(info['operations'])}  ({info['plugin']})")
    for name, err in registry.errors.items():
        print(f"{name:<12} FAILED: {err}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="raysight", description="Self-hosted vision model platform")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="start Ray (or join RAYSIGHT_RAY_ADDRESS) and serve the platform")
    p.add_argument("--config", type=Path, default=None, help="serve_config.yaml (default ./serve_config.yaml)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workspace", default=None)
    p.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=True,
                   help="start the Ray dashboard of a local cluster on 127.0.0.1 (default: on)")
    p.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="upgrade the database schema in place").set_defaults(func=cmd_migrate)
    sub.add_parser("plugins", help="list discovered plugins").set_defaults(func=cmd_plugins)
    weights_cli.register(sub)
    from raysight import demo_data

    demo_data.add_command(sub)
    ns = parser.parse_args(argv)
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
