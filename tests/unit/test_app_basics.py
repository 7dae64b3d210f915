from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)


def test_health_without_ray_reports_degraded(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["database"]["ok"] is True
    assert body["ray"]["ok"] is False
    assert body["status"] == "degraded"
    assert "yolo" in body["plugins"]["loaded"]


def test_api_key_required_when_configured(tmp_path: Path) -> None:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", api_key="s3cret"))
    with TestClient(create_app(ctx)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        denied = client.get("/plugins")
        assert denied.status_code == 401
        assert denied.json() == {"detail": "missing or invalid API key"}
        assert client.get("/plugins", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/plugins", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/plugins", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/compat/imgseg/uploads/x.png").status_code == 401


def test_no_key_means_open(client: TestClient) -> None:
    assert client.get("/plugins").status_code == 200


def test_public_bind_detection() -> None:
    assert Settings(host="127.0.0.1").binds_publicly is False
    assert Settings(host="localhost").binds_publicly is False
    assert Settings(host="0.0.0.0").binds_publicly is True


def test_static_routes_stay_inside_their_folders(client: TestClient, ctx: Platform) -> None:
    (ctx.workspace.uploads / "a.png").write_text("hello")
    (ctx.workspace.root / "secret.txt").write_text("no")
    assert client.get("/uploads/a.png").text == "hello"
    assert client.get("/uploads/..%2Fsecret.txt").status_code == 404
    assert client.get("/uploads/missing.png").json() == {"detail": "file not found"}
    assert client.get("/datasets/x/v1/..%2F..%2F..%2Fsecret.txt").status_code == 404


def test_an_unknown_path_under_a_dialect_mount_answers_in_that_dialect(client: TestClient) -> None:
    from raysight.api import compat

    assert client.get("/no-such-route").json() == {"detail": "Not Found"}
    for name, _ in compat.routers():
        body = client.get(f"/compat/{name}/no-such-route").json()
        assert "detail" not in body and body != {}, (name, body)
