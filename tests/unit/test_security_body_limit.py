"""Issue 9 row 5: request bodies are counted as they arrive; a body over its limit gets 413 in its
API's envelope the moment it crosses the limit, chunked bodies and lying clients included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings

CHUNK = 256 * 1024
BOUNDARY = "xxBOUNDARYxx"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Platform]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", max_upload_mb=2, max_image_mb=1))
    yield ctx
    ctx.close()


def _multipart_chunks(field: str, filename: str, total: int) -> Iterator[bytes]:
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    sent = 0
    while sent < total:
        yield b"\0" * CHUNK
        sent += CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def drive(ctx: Platform, path: str, chunks: Iterator[bytes], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the real app on one request whose body arrives chunk by chunk (Transfer-Encoding: chunked)."""
    app = create_app(ctx)
    pulled = 0
    sent: list[dict[str, Any]] = []
    chunk_list = list(chunks)
    hdrs = {"host": "127.0.0.1:8000", "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            "transfer-encoding": "chunked", **(headers or {})}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunk_list):
            pulled += 1
            return {"type": "http.request", "body": chunk_list[pulled - 1], "more_body": pulled < len(chunk_list)}
        await asyncio.sleep(3600)  # a client that keeps the connection open
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()], "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 5555)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "json": json.loads(body), "pulled": pulled, "total": len(chunk_list),
            "starts": sum(m["type"] == "http.response.start" for m in sent)}


def test_chunked_archive_upload_stops_at_the_limit(small: Platform) -> None:
    out = drive(small, "/datasets/upload", _multipart_chunks("file", "d.zip", 40 * 1024 * 1024))
    assert out["status"] == 413 and "RAYSIGHT_MAX_UPLOAD_MB" in out["json"]["detail"]
    assert out["starts"] == 1
    assert out["pulled"] <= 2 * 1024 * 1024 // CHUNK + 2 < out["total"]  # stopped reading at ~2 MB of 40
    assert small.workspace.root.joinpath("datasets").exists() is False or not any(
        small.workspace.root.joinpath("datasets").iterdir())


def test_image_routes_have_the_smaller_limit_in_their_envelope(small: Platform) -> None:
    for path in ("/ingest", "/compat/imgseg/ingest", "/imgSeg/v1/ingest"):
        out = drive(small, path, _multipart_chunks("image", "a.png", 8 * 1024 * 1024))
        assert out["pulled"] <= 1024 * 1024 // CHUNK + 2 < out["total"], path
        body = out["json"]
        assert body["code"] == -3000 and body["status"] == 413, body
        assert body["payload"]["err"] == 807 and "RAYSIGHT_MAX_IMAGE_MB" in body["payload"]["detail"]
    native = drive(small, "/infer/some_model", _multipart_chunks("file", "a.png", 8 * 1024 * 1024))
    assert native["status"] == 413 and "RAYSIGHT_MAX_IMAGE_MB" in native["json"]["detail"]
    # 1.5 MB is over the image limit but under the archive limit: the archive route reads it all
    archive = drive(small, "/datasets/upload", _multipart_chunks("file", "d.zip", 1536 * 1024))
    assert archive["status"] == 400 and archive["pulled"] == archive["total"]


def test_declared_length_over_the_limit_reads_nothing(small: Platform) -> None:
    out = drive(small, "/models/upload", _multipart_chunks("file", "w.pt", 4 * CHUNK),
                headers={"content-length": str(10 * 1024**3)})
    assert out["status"] == 413 and out["pulled"] == 0


def test_lying_content_length_is_still_counted(small: Platform) -> None:
    out = drive(small, "/infer/batch/run", _multipart_chunks("files", "a.png", 6 * 1024 * 1024),
                headers={"content-length": "1000"})
    assert out["status"] == 413 and out["pulled"] < out["total"]


def test_small_bodies_pass(small: Platform) -> None:
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        r = client.post("/imgSeg/v1/predictText", json={"image_url_list": []})
        assert r.json()["status"] != 413


def test_filerec_packages_are_archives_answered_in_filerec_envelope(small: Platform) -> None:
    for path in ("/upload_package", "/compat/filerec/upload_package"):
        # 1.5 MB: over the image limit, under the archive limit -> read whole (then refused as no zip)
        whole = drive(small, path, _multipart_chunks("file", "p.zip", 1536 * 1024))
        assert whole["pulled"] == whole["total"], path
        assert whole["json"]["error_code"] != "1000"
        over = drive(small, path, _multipart_chunks("file", "p.zip", 40 * 1024 * 1024))
        assert over["pulled"] < over["total"], path
        assert over["status"] == 200 and over["json"]["error_code"] == "1004", over["json"]
        assert "RAYSIGHT_MAX_UPLOAD_MB" in over["json"]["message"]
