"""Issue 9 row 4: the API key and a database password never travel in Serve application or deployment
arguments (the Ray dashboard shows those); replicas read them from a 0600 file of the workspace.
Ray's token auth is turned off only for the local cluster raysight starts itself."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from raysight.cli import app_env, check_port, direct_ingress, load_serve_config, serve_app_args
from raysight.serving.app import build_app
from raysight.settings import INLINE_OBJECT_BYTES, SERVE_ENV, Settings, direct_ingress_env, ray_env, serve_env

KEY = "key-3f9a7c"
PASSWORD = "pw-8d2e1b"
DB_URL = f"postgresql+psycopg://raysight:{PASSWORD}@db-host/raysight"


def _bound_args(app: Any) -> list[str]:
    """repr of the init arguments of the ingress and of every model deployment bound into `app`."""
    seen = [repr(app._bound_deployment.init_args), repr(app._bound_deployment.init_kwargs)]
    for handle in app._bound_deployment.init_args[1].values():
        seen.append(repr(handle._bound_deployment.init_args))
    return seen


def test_no_secret_in_cli_args_or_bound_deployments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYSIGHT_API_KEY", KEY)
    monkeypatch.setenv("RAYSIGHT_DATABASE_URL", DB_URL)
    settings = Settings(workspace=tmp_path / "ws")
    assert settings.api_key == KEY
    args = serve_app_args(settings, load_serve_config(Path(__file__).parents[2] / "serve_config.yaml"))
    assert KEY not in repr(args) and PASSWORD not in repr(args)
    app = build_app(args)
    for text in _bound_args(app):
        assert KEY not in text and PASSWORD not in text
    # the replicas get them back from the workspace, through a file only the owner can read
    secrets = settings.secrets_file
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    monkeypatch.delenv("RAYSIGHT_API_KEY")
    monkeypatch.delenv("RAYSIGHT_DATABASE_URL")
    replica = Settings.from_args(app._bound_deployment.init_args[0])
    assert replica.api_key == KEY and replica.database_url == DB_URL


def test_secrets_file_is_removed_when_there_is_none(tmp_path: Path) -> None:
    Settings(workspace=tmp_path / "ws", api_key=KEY).write_secrets()
    plain = Settings(workspace=tmp_path / "ws", database_url="sqlite:////tmp/x.db")
    assert "database_url" in plain.as_args()  # a URL without a password is no secret
    plain.write_secrets()
    assert not plain.secrets_file.exists()
    assert Settings.from_args(plain.as_args()).api_key is None


def test_token_auth_is_only_disabled_for_the_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    assert ray_env(local=True)["RAY_AUTH_MODE"] == "disabled"
    assert "RAY_AUTH_MODE" not in ray_env(local=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert ray_env(local=False)["RAY_AUTH_MODE"] == "token"
    assert ray_env(local=True)["RAY_AUTH_MODE"] == "token"


def test_ray_trains_preemption_watcher_is_off_only_on_the_cluster_raysight_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", raising=False)
    assert ray_env(local=True)["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "0"
    assert "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER" not in ray_env(local=False)  # a joined cluster: Ray's default
    monkeypatch.setenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "1")
    assert ray_env(local=True)["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] == "1"  # the user's choice wins


def test_rays_log_monitor_looks_for_new_files_every_2_s_only_on_the_cluster_raysight_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_NAME_UPDATE_INTERVAL_S", raising=False)
    monkeypatch.setenv("RAY_LOG_MONITOR_MANY_FILES_THRESHOLD", "500")
    local = ray_env(local=True)
    assert local["LOG_NAME_UPDATE_INTERVAL_S"] == "2"
    assert local["RAY_LOG_MONITOR_MANY_FILES_THRESHOLD"] == "500"  # the user's choice wins
    assert not {"LOG_NAME_UPDATE_INTERVAL_S", "RAY_LOG_MONITOR_MANY_FILES_THRESHOLD"} & set(ray_env(local=False))


def test_serve_runs_without_its_extra_thread_and_loop_in_raysight_serve_and_serve_deploy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key in SERVE_ENV:
        monkeypatch.delenv(key, raising=False)
    shipped = app_env(load_serve_config(Path(__file__).parents[2] / "serve_config.yaml"))
    # `serve deploy serve_config.yaml` gives the replicas the same settings `raysight serve` gives every process
    assert {k: shipped[k] for k in SERVE_ENV} == SERVE_ENV == {
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
        "RAY_SERVE_LOG_TO_STDERR": "0", "RAY_max_direct_call_object_size": str(INLINE_OBJECT_BYTES)}
    env = serve_env(shipped)
    assert env["YOLO_OFFLINE"] == "1" and env["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "0"
    assert serve_env({"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1"})[
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"] == "1"  # the file's value over the default
    monkeypatch.setenv("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "1")
    assert serve_env(shipped)["RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP"] == "1"  # the user's environment wins


def test_direct_ingress_only_where_one_ingress_replica_can_hold_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in direct_ingress_env(8000):
        monkeypatch.delenv(key, raising=False)
    shipped = load_serve_config(Path(__file__).parents[2] / "serve_config.yaml")
    assert direct_ingress(Settings(), shipped, local=True)
    assert not direct_ingress(Settings(), shipped, local=False)  # a joined cluster keeps Serve's proxies
    assert not direct_ingress(Settings(direct_ingress=False), shipped, local=True)
    two = {**shipped, "args": {**shipped["args"], "ingress": {"num_replicas": 2}}}
    assert not direct_ingress(Settings(), two, local=True)  # one port, one replica
    queued = {**shipped, "args": {**shipped["args"], "ingress": {"max_queued_requests": 8}}}
    assert not direct_ingress(Settings(), queued, local=True)  # the proxy enforces that limit
    env = direct_ingress_env(8123)
    assert env["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "1"
    assert (env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"], env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]) == (
        "8123", "8124")  # Serve hands out [min, max): exactly the configured port
    monkeypatch.setenv("RAY_SERVE_PORT_QUARANTINE_S", "30")
    assert direct_ingress_env(8123)["RAY_SERVE_PORT_QUARANTINE_S"] == "30"  # the user's environment wins


def test_raysight_serve_refuses_a_port_in_use_before_ray_starts() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port} .*--port / RAYSIGHT_PORT"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # free again: no complaint
