"""Issue 9 row 8: unbounded work. Data-loader workers, Train workers beyond the cluster, queued jobs,
in-flight async ingests and URLs per request are capped by settings with clear errors."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.errors import Unavailable, Unprocessable
from raysight.services import datasets, training
from raysight.services.imgseg import ingest
from raysight.settings import Settings
from tests.datagen import reader_over, write_yolo_zip


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Platform]:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", max_queued_jobs=2, max_data_workers=4,
                                   max_async_tasks=1, max_urls_per_request=3, url_allowlist="127.0.0.1",
                                   url_timeout_s=20))
    yield ctx
    ctx.close()


def _prepared(ctx: Platform, tmp_path: Path) -> str:
    archive = write_yolo_zip(tmp_path / "d.zip", 8)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename="d.zip", read=reader_over(archive.read_bytes())))["dataset_id"]
    datasets.prepare(ctx=ctx, dataset_id=ds)
    return str(ds)


class TwoCpuCluster:
    """The Cluster port of a 2-CPU Ray cluster (what ray.cluster_resources() says there)."""

    def resources(self) -> dict[str, float]:
        return {"CPU": 2.0}

    def probe(self, component: str) -> dict[str, Any]:
        return {"ok": True}

    def dashboard_url(self) -> str | None:
        return None

    def gpus(self) -> list[dict[str, Any]]:
        return []


def test_worker_caps(capped: Platform, tmp_path: Path) -> None:
    ds = _prepared(capped, tmp_path)
    with pytest.raises(Unprocessable, match="RAYSIGHT_MAX_DATA_WORKERS"):
        training.create_job(ctx=capped, dataset_id=ds, epochs=1, params={"workers": 64})
    capped.cluster = TwoCpuCluster()
    with pytest.raises(Unprocessable, match=r"\[1, 2\]"):
        training.create_job(ctx=capped, dataset_id=ds, epochs=1, params={"num_workers": 3})
    ok = training.create_job(ctx=capped, dataset_id=ds, epochs=1, params={"num_workers": 2, "workers": 4})
    assert ok["status"] == "queued"


def test_queued_jobs_cap(capped: Platform, tmp_path: Path) -> None:
    ds = _prepared(capped, tmp_path)
    for _ in range(2):  # no trainer attached: the jobs wait queued
        assert training.create_job(ctx=capped, dataset_id=ds, epochs=1)["status"] == "queued"
    with pytest.raises(Unavailable, match="RAYSIGHT_MAX_QUEUED_JOBS"):
        training.create_job(ctx=capped, dataset_id=ds, epochs=1)
    assert len(training.list_jobs(ctx=capped)["jobs"]) == 2


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        time.sleep(3)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_in_flight_async_ingest_cap(capped: Platform) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/slow.png"

    async def flood() -> None:
        first = await ingest.ingest(ctx=capped, image_url=url, wait=False)
        assert first["task_status"] == 300
        with pytest.raises(Unavailable, match="RAYSIGHT_MAX_ASYNC_TASKS"):
            await ingest.ingest(ctx=capped, image_url=url, wait=False)
        for job in list(capped.extras.get(ingest._BACKGROUND, ())):
            job.cancel()

    try:
        asyncio.run(flood())
    finally:
        srv.shutdown()


def test_urls_per_request_cap(capped: Platform) -> None:
    urls = [f"http://127.0.0.1:9/{i}.png" for i in range(4)]
    with TestClient(create_app(capped), raise_server_exceptions=False) as client:
        for path, body in (("/imgSeg/v1/predictText", {"image_url_list": urls}),
                           ("/imgSeg/v1/predictResnet", {"image_url_list": urls}),
                           ("/imgSeg/v1/getTrainData", {"user_id": "u1", "dataset": {
                               str(i): {"url": u, "component_type": "Button"} for i, u in enumerate(urls)}})):
            out = client.post(path, json=body).json()
            assert out["code"] == -3000 and "RAYSIGHT_MAX_URLS_PER_REQUEST" in out["payload"]["detail"], (path, out)
