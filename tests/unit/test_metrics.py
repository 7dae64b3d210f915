"""The metrics port without Ray: names checked against the table, and the request middleware's tags."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from raysight import metrics


class ListRecorder:
    """Keeps every record (checked against the table like the real recorders)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, dict[str, str]]] = []

    def inc(self, name: str, value: float = 1.0, /, **tags: str) -> None:
        metrics.check(name, "counter", tags)
        self.records.append((name, value, tags))

    def observe(self, name: str, value: float, /, **tags: str) -> None:
        metrics.check(name, "histogram", tags)
        self.records.append((name, value, tags))

    def set(self, name: str, value: float, /, **tags: str) -> None:
        metrics.check(name, "gauge", tags)
        self.records.append((name, value, tags))


@pytest.fixture
def recorded() -> Iterator[ListRecorder]:
    rec = ListRecorder()
    old = metrics.use(rec)
    yield rec
    metrics.use(old)


def test_every_metric_is_prefixed_and_well_formed() -> None:
    for name, spec in metrics.METRICS.items():
        assert name.startswith("raysight_")
        assert (spec.kind == "counter") == name.endswith("_total")
        assert (spec.kind == "histogram") == bool(spec.buckets)
        assert list(spec.buckets) == sorted(spec.buckets)


def test_unknown_names_wrong_kinds_and_tags_are_refused() -> None:
    null = metrics.NullRecorder()
    null.inc("raysight_model_loads_total", family="yolo")
    with pytest.raises(ValueError, match="raysight_model_load_total"):
        null.inc("raysight_model_load_total", family="yolo")
    with pytest.raises(ValueError):
        null.observe("raysight_model_loads_total", 1.0, family="yolo")
    with pytest.raises(ValueError):
        null.inc("raysight_model_loads_total", model="m")


def test_requests_are_counted_by_route_template_dialect_and_status(
    client: TestClient, recorded: ListRecorder
) -> None:
    assert client.get("/plugins").status_code == 200
    assert client.get("/datasets/ds_20240101_000000_abcdef").status_code == 404
    assert client.get("/compat/imgseg/imgSeg/v1/ingest/status", params={"task_id": "nope"}).status_code == 200
    assert client.get("/no/such/path").status_code == 404
    counted = [tags for name, _, tags in recorded.records if name == "raysight_http_requests_total"]
    assert counted[0] == {"route": "/plugins", "dialect": "native", "method": "GET", "status": "200"}
    assert counted[1] == {"route": "/datasets/{dataset_id}", "dialect": "native", "method": "GET", "status": "404"}
    assert counted[2] == {"route": "/compat/imgseg/imgSeg/v1/ingest/status", "dialect": "imgseg", "method": "GET",
                          "status": "200"}
    assert counted[3] == {"route": "unmatched", "dialect": "none", "method": "GET", "status": "404"}
    timed = [(v, tags) for name, v, tags in recorded.records if name == "raysight_http_request_duration_seconds"]
    assert len(timed) == 4 and all(0 < v < 30 for v, _ in timed)
