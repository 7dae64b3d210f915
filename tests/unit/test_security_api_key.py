"""Issue 9 row 3: with RAYSIGHT_API_KEY set, no route answers without the key but the open ones
(/health and the docs), matched by exact path: every route of the OpenAPI document, at the root and
under each /compat/<dialect>/ mount, with its own method plus HEAD and OPTIONS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import compat, create_app
from raysight.api.app import OPEN_PATHS
from raysight.context import Platform
from raysight.settings import Settings

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    ctx = Platform.create(Settings(workspace=tmp_path_factory.mktemp("keyed") / "ws", api_key=KEY))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client
    ctx.close()


def _requests(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    out: list[tuple[str, str]] = []
    for template, ops in spec["paths"].items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        for method in {*(m.upper() for m in ops), "HEAD", "OPTIONS"}:
            out.append((method, path))
    return sorted(out)


def test_every_route_needs_the_key(keyed: TestClient) -> None:
    requests = _requests(keyed)
    paths = {p for _, p in requests}
    for name, _ in compat.routers():  # the table covers every dialect mount, and the root mounts
        assert any(p.startswith(f"/compat/{name}/") for p in paths)
    assert {"/datasets/upload", "/models/x/files/x", "/uploads/x", "/imgSeg/v1/ingest"} <= paths
    leaks = []
    for method, path in requests:
        status = keyed.request(method, path).status_code
        if (status != 401) != (path in OPEN_PATHS):
            leaks.append((method, path, status))
    assert leaks == [], leaks


@pytest.mark.parametrize("path", [
    "/uploads/health", "/models/m1/files/openapi.json", "/compat/imgseg/health", "/datasets/d/v1/docs",
    "/uploads/redoc", "/models/m1/files/docs/oauth2-redirect", "//health", "/health/", "/health/../plugins",
])
def test_paths_ending_in_an_open_path_need_the_key(keyed: TestClient, path: str) -> None:
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        assert keyed.request(method, path).status_code == 401, (method, path)


def test_open_paths_and_key_still_work(keyed: TestClient) -> None:
    for path in OPEN_PATHS:
        assert keyed.get(path).status_code != 401, path
    assert keyed.get("/plugins", headers={"X-API-Key": KEY}).status_code == 200
    assert keyed.head("/datasets", headers={"Authorization": f"Bearer {KEY}"}).status_code != 401


def test_without_a_key_nothing_is_locked(tmp_path: Path) -> None:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    with TestClient(create_app(ctx)) as client:
        assert client.get("/plugins").status_code == 200


def test_a_dialect_client_gets_the_refusal_in_its_own_envelope(keyed: TestClient) -> None:
    """401 everywhere, the body shaped like that API's other errors (what each client parses)."""
    assert keyed.get("/plugins").json() == {"detail": "missing or invalid API key"}
    for name, _ in compat.routers():
        unknown = keyed.get(f"/compat/{name}/no-such-route", headers={"X-API-Key": KEY})
        refused = keyed.get(f"/compat/{name}/no-such-route")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", name
        assert "detail" not in refused.json(), (name, refused.json())
        assert set(refused.json()) == set(unknown.json()), (name, refused.json(), unknown.json())
        assert "API key" in refused.text, name
    assert keyed.get("/compat/filerec/no-such-route").json()["error_code"] == "1008"
    assert keyed.get("/compat/autosele/no-such-route").json()["errno"] == 401
    assert keyed.get("/compat/paddlex/no-such-route").json()["status"] == -1
