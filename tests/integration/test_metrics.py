"""Platform metrics on Ray's Prometheus endpoint: /health names it, real requests move the counters."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from raysight.context import Platform
from raysight.settings import Settings
from tests.integration.test_inference import png, register_resnet

pytestmark = pytest.mark.ray
SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` (as Ray exports it: "ray_" + name) whose labels include `labels`."""
    total = 0.0
    for line in httpx.get(url, timeout=10).text.splitlines():
        match = SAMPLE.match(line)
        if not match or match.group(1) != f"ray_{name}":
            continue
        found = dict(LABEL.findall(match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def test_requests_move_the_counters_on_the_prometheus_endpoint(
    http: httpx.Client, serve_workspace: Path
) -> None:
    prometheus = http.get("/health").json()["ray"]["prometheus"]
    url = prometheus["url"]
    assert url and url in prometheus["nodes"] and url.endswith("/metrics")
    plugins = dict(route="/plugins", dialect="native", method="GET", status="200")
    infer = dict(route="/infer/{model_id}", dialect="native", method="POST", status="200")
    ctx = Platform.create(Settings(workspace=serve_workspace), migrate=False)
    model_id = register_resnet(ctx, ["a", "b"])
    ctx.close()
    watched = {
        ("raysight_http_requests_total", tuple(plugins.items())): 3,
        ("raysight_http_requests_total", tuple(infer.items())): 2,
        ("raysight_http_requests_total", (("route", "unmatched"), ("status", "404"))): 1,
        ("raysight_http_request_duration_seconds_count", (("route", "/plugins"),)): 3,
        ("raysight_model_loads_total", (("family", "resnet"),)): 1,
        ("raysight_model_cache_hits_total", (("family", "resnet"),)): 1,
        ("raysight_batch_size_count", (("family", "resnet"),)): 2,
    }
    before = {key: scrape(url, key[0], **dict(key[1])) for key in watched}
    for _ in range(3):
        assert http.get("/plugins").status_code == 200
    assert http.get("/no/such/thing").status_code == 404
    for seed in (1, 2):  # the first loads the model, the second finds it loaded
        r = http.post(f"/infer/{model_id}", files={"file": ("p.png", png(64, 64, seed), "image/png")})
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60  # each process exports every few seconds
    while True:
        moved = {key: scrape(url, key[0], **dict(key[1])) - before[key] for key in watched}
        if all(moved[key] >= want for key, want in watched.items()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert all(moved[key] >= want for key, want in watched.items()), moved
