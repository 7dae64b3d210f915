"""Concurrency that SQLite hides (it serialises every writer), tested on PostgreSQL with two Platforms,
i.e. two ingress replicas on one database. A third connection holds the contested row locked until
both requests wait on it, so the race is forced, not hoped for."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from raysight.api import create_app
from raysight.context import Platform
from raysight.services import annotations as ann
from raysight.services import datasets
from raysight.settings import Settings
from raysight.store.models import Dataset, DatasetVersion
from tests.datagen import reader_over, write_yolo_zip

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps, each with its own Platform (engine, pool) over the same database and workspace."""
    first, second = Platform.create(settings), Platform.create(settings, migrate=False)
    with TestClient(create_app(first)) as a, TestClient(create_app(second)) as b:
        yield a, b
    first.close()
    second.close()


@contextmanager
def row_held(url: str, table: str, where: str, params: dict[str, Any]) -> Iterator[Callable[[int], None]]:
    """Lock one row FOR UPDATE in a third session; the yielded function waits until `n` other sessions
    queue on a lock (both racers are past their reads), then the block's end releases the row."""
    engine = create_engine(url)
    conn = engine.connect()
    tx = conn.begin()
    assert conn.execute(text(f"SELECT 1 FROM {table} WHERE {where} FOR UPDATE"), params).first() is not None

    def wait_for_waiters(n: int) -> None:
        deadline = time.monotonic() + 30
        with engine.connect() as probe:
            while time.monotonic() < deadline:
                waiting = probe.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar()
                probe.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting >= n:
                    return
                time.sleep(0.05)
        raise AssertionError(f"{n} sessions never queued on the held row")

    try:
        yield wait_for_waiters
    finally:
        tx.commit()
        conn.close()
        engine.dispose()


def race(*calls: Callable[[], httpx.Response]) -> tuple[list[Any], list[threading.Thread]]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    return results, threads


def test_two_replicas_save_the_same_annotation_item(
    replicas: tuple[TestClient, TestClient], settings: Settings, tmp_path: Path
) -> None:
    a, b = replicas
    ctx = Platform.create(settings, migrate=False)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename="y.zip",
                                     read=reader_over(write_yolo_zip(tmp_path / "y.zip", 4).read_bytes())))
    datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    task = ann.create_task(ctx=ctx, dataset_id=ds["dataset_id"])["task_id"]
    url = f"/annotations/tasks/{task}/items/img0001"
    box_a = [{"class_id": 0, "x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0}]
    box_b = [{"class_id": 1, "x1": 5.0, "y1": 6.0, "x2": 50.0, "y2": 60.0},
             {"class_id": 0, "x1": 70.0, "y1": 70.0, "x2": 90.0, "y2": 95.0}]
    with row_held(settings.db_url, "annotation_items", "task_id = :t AND image_id = 'img0001'", {"t": task}) as wait:
        results, threads = race(lambda: a.post(url, json={"boxes": box_a}),
                                lambda: b.post(url, json={"boxes": box_b}))
        wait(2)
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200, 200]
    stored_a, stored_b = a.get(url).json(), b.get(url).json()
    assert stored_a == stored_b  # both replicas read the one stored answer
    assert stored_a["boxes"] in (box_a, box_b)  # one whole write, never a mix
    assert a.get(f"/annotations/tasks/{task}").json()["annotated_count"] == 4
    other = ann.get_item(ctx=ctx, task_id=task, image_id="img0002")["boxes"]
    assert other and other not in (box_a, box_b)  # the neighbour row is untouched
    ctx.close()


def test_two_replicas_prepare_one_dataset_exactly_one_wins(
    replicas: tuple[TestClient, TestClient], settings: Settings, tmp_path: Path
) -> None:
    a, b = replicas
    with write_yolo_zip(tmp_path / "y.zip", 12).open("rb") as f:
        ds = a.post("/datasets/upload", files={"file": ("y.zip", f, "application/zip")}).json()["dataset_id"]
    url = f"/datasets/{ds}/prepare"
    with row_held(settings.db_url, "datasets", "id = :d", {"d": ds}) as wait:
        results, threads = race(lambda: a.post(url, json={}), lambda: b.post(url, json={}))
        wait(2)
    for t in threads:
        t.join(60)
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409).json()
    assert loser == {"detail": f"dataset '{ds}' is already being prepared"}
    assert next(r for r in results if r.status_code == 200).json()["version"] == "v1"
    ctx = Platform.create(settings, migrate=False)
    with ctx.db.session() as s:
        assert s.query(DatasetVersion).filter_by(dataset_id=ds).count() == 1
        row = s.get(Dataset, ds)
        assert (row.status, row.prepare_owner, row.error) == ("prepared", None, None)
    ctx.close()
    # the loser left nothing half-made: a later prepare adds v2 as usual
    assert b.post(url, json={}).json()["version"] == "v2"
