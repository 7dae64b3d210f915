"""Issue 9 row 2: a web page the operator opens must not drive a local server without a key."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings

LOCAL = "http://127.0.0.1:8000"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("images/a.txt", "x")
    return buf.getvalue()


def _client(tmp_path: Path, **kw: object) -> Iterator[tuple[TestClient, Platform]]:
    settings = Settings(workspace=tmp_path / "ws", **{"allowed_hosts": "", **kw})  # type: ignore[arg-type]
    ctx = Platform.create(settings)
    with TestClient(create_app(ctx), base_url=LOCAL, raise_server_exceptions=False) as client:
        yield client, ctx
    ctx.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[TestClient, Platform]]:
    yield from _client(tmp_path)


def test_cross_origin_multipart_post_is_refused(local: tuple[TestClient, Platform]) -> None:
    client, ctx = local
    # what a browser sends for <form enctype=multipart/form-data action=http://127.0.0.1:8000/...> on evil.example
    refused = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")},
                          headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert "RAYSIGHT_CORS_ORIGINS" in refused.json()["detail"]
    assert "access-control-allow-origin" not in refused.headers
    assert client.get("/datasets").json()["datasets"] == []
    # the imgseg dialect answers in its envelope
    env = client.post("/imgSeg/v1/predictText", json={"image_url_list": []}, headers={"Origin": "http://evil.example"})
    assert env.json()["code"] == -3000 and env.json()["status"] == 403
    # the same form from the server's own page, and a client without Origin (curl), keep working
    same = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")},
                       headers={"Origin": LOCAL})
    assert same.status_code == 200, same.text
    plain = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")})
    assert plain.status_code == 200
    assert len(client.get("/datasets").json()["datasets"]) == 2
    # reading is not state-changing: a GET with a foreign Origin gets data but no CORS header to read it
    got = client.get("/datasets", headers={"Origin": "http://evil.example"})
    assert got.status_code == 200 and "access-control-allow-origin" not in got.headers


def test_foreign_host_is_refused_dns_rebinding(local: tuple[TestClient, Platform]) -> None:
    client, _ = local
    # evil.example re-resolved to 127.0.0.1: same-origin for the browser, but the Host header says evil.example
    bad = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")},
                      headers={"Host": "evil.example:8000", "Origin": "http://evil.example:8000"})
    assert bad.status_code == 400 and "RAYSIGHT_ALLOWED_HOSTS" in bad.json()["detail"]
    assert client.get("/plugins", headers={"Host": "evil.example"}).status_code == 400
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "LOCALHOST:1"):
        assert client.get("/plugins", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_and_cors_origins(tmp_path: Path) -> None:
    for client, _ in _client(tmp_path, host="0.0.0.0", allowed_hosts="*.lab.example,api.example",
                             cors_origins="https://ui.example"):
        assert client.get("/plugins", headers={"Host": "gpu1.lab.example:8000"}).status_code == 200
        assert client.get("/plugins", headers={"Host": "api.example"}).status_code == 200
        assert client.get("/plugins", headers={"Host": "192.168.1.20:8000"}).status_code == 200  # LAN address
        assert client.get("/plugins", headers={"Host": "lab.example.evil.example"}).status_code == 400
        assert client.get("/plugins", headers={"Host": "evil.example"}).status_code == 400
        pre = client.options("/datasets/upload", headers={"Host": "api.example", "Origin": "https://ui.example",
                                                          "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://ui.example"
        ok = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")},
                         headers={"Host": "api.example", "Origin": "https://ui.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ui.example"
        denied = client.post("/datasets/upload", files={"file": ("d.zip", _zip(), "application/zip")},
                             headers={"Host": "api.example", "Origin": "https://other.example"})
        assert denied.status_code == 403
        # behind a TLS-terminating proxy: the page is https, the app sees http with the same Host
        proxied = client.put("/datasets/nope", json={}, headers={"Host": "api.example",
                                                                  "Origin": "https://api.example"})
        assert proxied.status_code == 404
