"""Shared fixtures: a Platform on tmp SQLite for service tests; ONE Ray cluster and ONE Serve
application per test session for the integration tests."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.plugins import load_plugins
from raysight.settings import Settings, apply_process_env
from tests.model_ops_helpers import Trained, train_resnet, train_yolo
from tests.outside_plugin import make_outside_plugin
from tests.postgres import DATABASE_BACKENDS, fresh_postgres_database

apply_process_env()
# Starlette's TestClient sends `Host: testserver`, which the Host check refuses by default (the default
# list is tested in tests/unit/test_security_cross_site.py with settings that leave this out).
os.environ.setdefault("RAYSIGHT_ALLOWED_HOSTS", "testserver")


# -- PostgreSQL next to SQLite (issue 10) ------------------------------------------------------------------
# A test module with `pytestmark = pytest.mark.databases` runs every test that uses `settings`/`ctx`/`client`
# (or `database_url`) on SQLite and on PostgreSQL: a fresh database per test on the server that
# RAYSIGHT_TEST_POSTGRES_URL names (.ci/run starts one). Without it the PostgreSQL variants skip, except
# in CI (CI=true), where they fail.


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("databases"):
        metafunc.parametrize("database_url", DATABASE_BACKENDS, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the workspace) unless the test is parametrized onto "postgresql"."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(workspace=tmp_path / "ws", database_url=database_url, max_upload_mb=50, max_extract_mb=100,
                    max_extract_files=5000)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Platform]:
    platform = Platform.create(settings)
    yield platform
    platform.close()


@pytest.fixture
def client(ctx: Platform) -> Iterator[TestClient]:
    """The app without Ray: routes and services over real SQLite and files."""
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def outside_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A third-party plugin package ('toy') on sys.path of this process and of every Ray worker."""
    root = make_outside_plugin(tmp_path_factory.mktemp("outside_plugin"))
    sys.path.insert(0, str(root))
    return root


@pytest.fixture(scope="session")
def ray_cluster(outside_plugin: Path) -> Iterator[None]:
    import ray

    from raysight.settings import ray_env, serve_env

    pythonpath = os.pathsep.join(p for p in (str(outside_plugin), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        address="local",  # a cluster of its own, never one that `ray start` or another run left here
        num_cpus=int(os.environ.get("RAYSIGHT_TEST_RAY_CPUS", "8")),
        runtime_env={"env_vars": {**ray_env(), **serve_env(), "PYTHONPATH": pythonpath}},
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=True,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def serve_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve_ws")


@pytest.fixture(scope="session")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session server's RAYSIGHT_IMPORT_ROOTS: server folders requests may name (AutoSele, PaddleX)."""
    return tmp_path_factory.mktemp("import_root")


@pytest.fixture(scope="session")
def server(ray_cluster: None, serve_workspace: Path, import_root: Path) -> Iterator[str]:
    """The real application under Ray Serve over HTTP; yields its base URL."""
    from ray import serve

    from raysight.serving.app import build_app

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = build_app({
        "settings": {"workspace": str(serve_workspace), "max_upload_mb": 50, "request_timeout_s": 120,
                     "import_roots": str(import_root)},
        "ingress": {"num_cpus": 0.1},
        "models": {name: {"num_cpus": 0.1, "num_replicas": 1} for name in load_plugins().backends},
    })
    serve.run(app, name="raysight", route_prefix="/")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield base
    serve.shutdown()


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=300) as c:
        yield c


# -- tiny trained models for the model-operation tests (evaluate, export, prune) ------------------------------
@pytest.fixture(scope="session")
def trained_resnet_files(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A resnet18 trained in-process on generated shapes, with its dataset archive (tests/model_ops_helpers)."""

    return train_resnet(tmp_path_factory.mktemp("trained_resnet"))


@pytest.fixture(scope="session")
def trained_yolo_files(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A YOLOv8n trained in-process on generated squares and circles, with its dataset archive."""

    return train_yolo(tmp_path_factory.mktemp("trained_yolo"))
