"""GET /model is documented by PaddleX and by AutoSele: at the root one route answers both clients;
under /compat/<dialect>/ each dialect answers alone, in its own envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c
    ctx.close()


def test_root_model_without_arguments_carries_both_dialects(client: TestClient) -> None:
    body = client.get("/model").json()
    assert body["status"] == 1 and body["errno"] == 1  # PaddleX reads status, AutoSele errno
    assert body["pretrained_models"] == [] and body["exported_models"] == []
    assert body["data"] == [] and isinstance(body["message"], str)


def test_root_model_with_type_or_mid_answers_as_paddlex(client: TestClient) -> None:
    body = client.request("GET", "/model", json={"type": "exported"}).json()
    assert body == {"status": 1, "exported_models": []}
    body = client.get("/model", params={"type": "pretrained"}).json()
    assert body == {"status": 1, "pretrained_models": []}
    missing = client.request("GET", "/model", json={"mid": "PM0042"}).json()
    assert missing["status"] == -1 and "PM0042" in missing["message"]
    bad = client.request("GET", "/model", json={"type": "nonsense"}).json()
    assert bad["status"] == -1 and bad["errno"] == 400 and "type" in bad["message"]
    broken = client.request("GET", "/model", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 200 and broken.json()["status"] == -1


def test_each_dialect_alone_under_its_prefix(client: TestClient) -> None:
    paddlex = client.get("/compat/paddlex/model").json()
    assert paddlex == {"status": 1, "pretrained_models": [], "exported_models": []}
    autosele = client.get("/compat/autosele/model").json()
    assert autosele["errno"] == 1 and autosele["data"] == [] and "status" not in autosele


def test_openapi_has_unique_operation_ids() -> None:
    """Five APIs on one app: the schema builds without FastAPI's duplicate-operation-id warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = create_app().openapi()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op]
    assert len(ids) == len(set(ids))
