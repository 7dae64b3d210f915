"""Back-pressure: 100 concurrent inference requests against a small app with tiny queue limits answer
only 200 or 503 with Retry-After (in the native envelope), never another 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import fire, png
from raysight.context import Platform
from raysight.errors import Busy
from raysight.serving.predictor import domain_error as _domain
from raysight.settings import Settings
from tests.integration.test_inference import register_resnet

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def small_app(server: str, serve_workspace: Path) -> Iterator[str]:
    """A second application on the session cluster: one resnet replica taking 1 request at a time,
    2 more queued at the ingress, Retry-After 2 s."""
    from ray import serve

    from raysight.serving.app import build_app

    app = build_app({
        "settings": {"workspace": str(serve_workspace), "plugins": "resnet"},
        "ingress": {"num_cpus": 0.05},
        "models": {"resnet": {"num_cpus": 0.05, "num_replicas": 1, "max_ongoing_requests": 1,
                              "max_queued_requests": 2, "max_batch_size": 1, "retry_after_s": 2}},
    })
    serve.run(app, name="backpressure", route_prefix="/bp")
    yield f"{server}/bp"
    serve.delete("backpressure")


def test_100_concurrent_requests_get_200_or_503_with_retry_after(small_app: str, serve_workspace: Path) -> None:
    ctx = Platform.create(Settings(workspace=serve_workspace), migrate=False)
    model_id = register_resnet(ctx, ["a", "b", "c"])
    ctx.close()
    warm = httpx.post(f"{small_app}/infer/{model_id}", files={"file": ("w.png", png(), "image/png")}, timeout=120)
    assert warm.status_code == 200, warm.text
    report = asyncio.run(fire(small_app, model_id, requests=100))
    print(report.line())
    assert report.faults == []
    assert set(report.statuses) <= {200, 503} and sum(report.statuses.values()) == 100
    assert report.statuses.get(200, 0) >= 3  # the replica and its queue were served
    assert report.statuses.get(503, 0) >= 1 and report.retry_after == ["2"]  # the rest was turned away
    detail = json.loads(report.busy_body)["detail"]  # the native envelope
    assert detail.startswith("the model service is busy") and "max_queued_requests=2" in detail


def test_back_pressure_error_becomes_busy_with_its_retry_after() -> None:
    from ray.serve.exceptions import BackPressureError

    err = _domain(BackPressureError(num_queued_requests=2, max_queued_requests=2, retry_after_s=2.5))
    assert isinstance(err, Busy) and err.status == 503 and err.retry_after_s == 3
    assert "busy" in err.message
