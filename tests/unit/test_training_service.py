"""Training job validation, records, stop/resume rules and the log endpoints, without Ray."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from raysight.context import Platform
from raysight.services import datasets, training
from raysight.store.models import TrainJob
from tests.datagen import reader_over, write_classify_zip, write_yolo_zip

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)


def prepared(ctx: Platform, tmp_path: Path, kind: str = "detect", prepare: bool = True) -> str:
    if kind == "detect":
        archive = write_yolo_zip(tmp_path / "det.zip", 8)
    else:
        archive = write_classify_zip(tmp_path / "cls.zip", 6)
    ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
    if prepare:
        datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
    return ds["dataset_id"]


def set_job(ctx: Platform, job_id: str, **fields: Any) -> None:
    with ctx.db.session() as s:
        job = s.get(TrainJob, job_id)
        for k, v in fields.items():
            setattr(job, k, v)


def test_create_records_a_queued_job_with_every_field(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    ds = prepared(ctx, tmp_path)
    r = client.post("/train/jobs", json={"dataset_id": ds, "epochs": 3, "imgsz": 128, "batch": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"job_id", "status"} and body["status"] == "queued"  # no trainer attached here
    job = client.get(f"/train/jobs/{body['job_id']}").json()
    for key in ("job_id", "dataset_id", "version", "model_name", "base_model_id", "epochs", "imgsz", "batch",
                "status", "created_at", "completed_at", "model_id", "log_file", "epoch", "history", "eta_s",
                "pretrained", "error", "checkpoint_epoch"):
        assert key in job, key
    assert job["model_name"] == "yolov8n.pt" and job["plugin"] == "yolo" and job["task_type"] == "detect"
    assert job["pretrained"] is False and job["epoch"] == 0 and job["history"] == []
    assert job["log_file"] == str(ctx.workspace.job_log(body["job_id"]))
    listed = client.get("/train/jobs").json()["jobs"]
    assert [j["job_id"] for j in listed] == [body["job_id"]]
    lines = client.get("/logs/lines", params={"job_id": body["job_id"]}).json()
    assert lines["total"] >= 1 and "created" in lines["lines"][0]


def test_classification_dataset_defaults_to_resnet(ctx: Platform, tmp_path: Path) -> None:
    ds = prepared(ctx, tmp_path, "classify")
    job = training.get_job(ctx=ctx, job_id=training.create_job(ctx=ctx, dataset_id=ds, imgsz=64)["job_id"])
    assert job["model_name"] == "resnet18" and job["plugin"] == "resnet"


def test_named_pretrained_weights_are_found_in_the_weights_folder(ctx: Platform, tmp_path: Path) -> None:
    from raysight_resnet.model import build_resnet, save_weights

    ds = prepared(ctx, tmp_path, "classify")
    net = build_resnet("resnet18", 5)
    save_weights(ctx.workspace.weights_file("resnet18.pth"), arch="resnet18", classes=list("abcde"),
                 state_dict=net.state_dict(), imgsz=64)
    job_id = training.create_job(ctx=ctx, dataset_id=ds, model_name="resnet18", imgsz=64)["job_id"]
    assert training.get_job(ctx=ctx, job_id=job_id)["pretrained"] is True
    spec = training.job_spec(ctx=ctx, job_id=job_id)
    assert spec["ctx"]["weights"] == str(ctx.workspace.weights_file("resnet18.pth"))
    assert spec["ctx"]["pretrained"] is True and spec["num_workers"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"dataset_id": "ds_nope"}, 404),
        ({"model_name": "nosuchnet.pt"}, 404),
        ({"base_model_id": "model_missing"}, 404),
        ({"model_name": "resnet18"}, 400),
        ({"epochs": 0}, 422),
        ({"epochs": 100000}, 422),
        ({"imgsz": 8}, 422),
        ({"batch": 0}, 422),
        ({"batch": -5}, 422),
        ({"params": {"num_workers": 0}}, 422),
    ],
)
def test_create_errors(ctx: Platform, client: TestClient, tmp_path: Path, body: dict[str, Any], status: int) -> None:
    ds = prepared(ctx, tmp_path)
    r = client.post("/train/jobs", json={"dataset_id": ds, **body})
    assert r.status_code == status, r.text
    assert "detail" in r.json()


def test_unprepared_dataset_is_409_and_wrong_task_is_400(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    raw = prepared(ctx, tmp_path, prepare=False)
    assert client.post("/train/jobs", json={"dataset_id": raw}).status_code == 409
    (tmp_path / "c").mkdir()
    cls = prepared(ctx, tmp_path / "c", "classify")
    r = client.post("/train/jobs", json={"dataset_id": cls, "model_name": "yolov8n.pt"})
    assert r.status_code == 400 and "classify" in r.json()["detail"]


def test_stop_resume_and_delete_rules(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    ds = prepared(ctx, tmp_path)
    job_id = client.post("/train/jobs", json={"dataset_id": ds, "epochs": 2}).json()["job_id"]
    r = client.post(f"/train/jobs/{job_id}/resume")
    assert r.status_code == 409  # queued
    r = client.post(f"/train/jobs/{job_id}/stop")
    assert r.status_code == 200 and r.json() == {"ok": True, "message": "Training job stopped successfully"}
    assert client.get(f"/train/jobs/{job_id}").json()["status"] == "stopped"
    assert client.post(f"/train/jobs/{job_id}/stop").status_code == 409
    # stopped before its first checkpoint: resume starts it again from epoch 0 and says so
    set_job(ctx, job_id, epoch=1, history=[{"epoch": 1, "loss": 1.0}])  # a report that left no checkpoint
    r = client.post(f"/train/jobs/{job_id}/resume")
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "message": "Training job restarted from epoch 0 (it had no checkpoint)",
                        "job_id": job_id, "status": "queued"}
    job = client.get(f"/train/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["resumed_from_epoch"] == 0 and job["attempt"] == 1
    assert job["epoch"] == 0 and job["history"] == [] and job["checkpoint_epoch"] is None
    assert job["queue_reason"] == training.NO_TRAINER
    assert "no checkpoint (it ended before its first one); restarting from epoch 0" in \
        ctx.workspace.job_log(job_id).read_text()
    assert client.post(f"/train/jobs/{job_id}/stop").status_code == 200
    set_job(ctx, job_id, checkpoint_epoch=1)
    r = client.post(f"/train/jobs/{job_id}/resume")
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "message": "Training job resumed successfully", "job_id": job_id,
                        "status": "queued"}
    assert client.get(f"/train/jobs/{job_id}").json()["resumed_from_epoch"] == 1
    set_job(ctx, job_id, status="completed")
    assert client.post(f"/train/jobs/{job_id}/resume").status_code == 409
    assert client.post(f"/train/jobs/{job_id}/stop").status_code == 409
    assert client.delete(f"/train/jobs/{job_id}").json()["ok"] is True
    assert client.get(f"/train/jobs/{job_id}").status_code == 404
    assert not ctx.workspace.job_log(job_id).exists()
    for path in (f"/train/jobs/{job_id}/stop", f"/train/jobs/{job_id}/resume"):
        assert client.post(path).status_code == 404
    assert client.delete(f"/train/jobs/{job_id}").status_code == 404


def test_a_stop_that_meets_the_jobs_completion_answers_409(ctx: Platform, client: TestClient,
                                                           tmp_path: Path) -> None:
    """The job registered its model from its final report between the status check and the
    supervisor's answer (COMPLETED): nothing was stopped, and the answer says so."""

    class Completing:
        def stop(self, job_id: str) -> str:
            set_job(ctx, job_id, status=training.COMPLETED)
            return training.COMPLETED

    ds = prepared(ctx, tmp_path)
    job_id = client.post("/train/jobs", json={"dataset_id": ds, "epochs": 2}).json()["job_id"]
    set_job(ctx, job_id, status=training.RUNNING)
    ctx.job_runner = Completing()  # type: ignore[assignment]
    try:
        r = client.post(f"/train/jobs/{job_id}/stop")
    finally:
        ctx.job_runner = None
    assert r.status_code == 409 and "completed" in r.json()["detail"], r.text
    assert client.get(f"/train/jobs/{job_id}").json()["status"] == "completed"


def test_log_tail_offsets_lines_and_stream_end(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    ds = prepared(ctx, tmp_path)
    job_id = training.create_job(ctx=ctx, dataset_id=ds, epochs=2)["job_id"]
    for i in range(120):
        training.log(ctx, job_id, f"line {i}")
    total = 120 + 2  # created + queued
    first = client.get("/logs/tail", params={"job_id": job_id}).json()
    assert len(first["lines"]) == 50 and first["lines"][0].startswith("[")
    path = ctx.workspace.job_log(job_id)
    assert first["offset"] == len(b"".join(line.encode() + b"\n" for line in first["lines"]))
    offset, seen = first["offset"], list(first["lines"])
    while True:
        page = client.get("/logs/tail", params={"job_id": job_id, "offset": offset}).json()
        if not page["lines"]:
            assert page["offset"] == offset == path.stat().st_size
            break
        seen += page["lines"]
        offset = page["offset"]
    assert len(seen) == total and seen[-1].endswith("line 119")
    # a partial line is never returned
    with path.open("a") as fh:
        fh.write("[2024-01-01T00:00:00] half")
    assert client.get("/logs/tail", params={"job_id": job_id, "offset": offset}).json() == {
        "offset": offset, "lines": []}
    with path.open("a") as fh:
        fh.write(" done\n")
    assert client.get("/logs/tail", params={"job_id": job_id, "offset": offset}).json()["lines"] == [
        "[2024-01-01T00:00:00] half done"]
    allof = client.get("/logs/lines", params={"job_id": job_id, "n": 0}).json()
    assert allof["total"] == allof["returned"] == total + 1
    last = client.get("/logs/lines", params={"job_id": job_id, "n": 5}).json()
    assert last["returned"] == 5 and last["total"] == total + 1 and last["lines"][-1].endswith("half done")
    assert client.get("/logs/lines", params={"job_id": job_id, "n": -1}).status_code == 422
    assert client.get("/logs/tail", params={"job_id": job_id, "offset": -1}).status_code == 422
    for path_ in ("/logs/tail", "/logs/lines", "/logs/stream"):
        assert client.get(path_, params={"job_id": "job_nope"}).status_code == 404

    # the stream follows while the job is active and ends once it is not
    def finish_later() -> None:
        time.sleep(1.0)
        training.log(ctx, job_id, "late line")
        training.mark_stopped(ctx=ctx, job_id=job_id)

    import threading

    threading.Thread(target=finish_later).start()
    started = time.monotonic()
    with client.stream("GET", "/logs/stream", params={"job_id": job_id}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert time.monotonic() - started >= 0.9
    assert all(e.startswith("data: [") for e in events)
    assert len(events) == total + 2 and events[-1].endswith("late line")


def test_queued_jobs_without_a_trainer_and_interrupted_ones_are_reconciled(ctx: Platform, tmp_path: Path) -> None:
    """What the supervisor's reconcile does to the records (its Ray side is in the integration tests)."""
    ds = prepared(ctx, tmp_path)
    a = training.create_job(ctx=ctx, dataset_id=ds, epochs=2)["job_id"]
    b = training.create_job(ctx=ctx, dataset_id=ds, epochs=2)["job_id"]
    set_job(ctx, a, status="running")
    assert training.active_jobs(ctx=ctx) == [(a, "running"), (b, "queued")]
    training.mark_stopped(ctx=ctx, job_id=a, error=training.INTERRUPTED)
    job = training.get_job(ctx=ctx, job_id=a)
    assert job["status"] == "stopped" and job["error"] == "interrupted: server restarted"


def test_epoch_records_keep_one_entry_per_epoch(ctx: Platform, tmp_path: Path) -> None:
    ds = prepared(ctx, tmp_path)
    job_id = training.create_job(ctx=ctx, dataset_id=ds, epochs=5)["job_id"]
    for e in (1, 2, 3):
        training.record_epoch(ctx=ctx, job_id=job_id, epoch=e, metrics={"mAP50": e / 10}, checkpointed=e < 3,
                              eta_s=1.0)
    job = training.get_job(ctx=ctx, job_id=job_id)
    assert job["epoch"] == 3 and job["checkpoint_epoch"] == 2 and [h["epoch"] for h in job["history"]] == [1, 2, 3]
    training.record_resumed(ctx=ctx, job_id=job_id, epoch=2)
    training.record_epoch(ctx=ctx, job_id=job_id, epoch=3, metrics={"mAP50": 0.5}, checkpointed=True, eta_s=0.5)
    job = training.get_job(ctx=ctx, job_id=job_id)
    assert [h["epoch"] for h in job["history"]] == [1, 2, 3] and job["history"][-1]["mAP50"] == 0.5
    assert job["checkpoint_epoch"] == 3


def test_resume_fills_the_checkpoint_epoch_a_killed_server_never_recorded(ctx: Platform, tmp_path: Path) -> None:
    """The server died after Ray Train kept epoch 3's checkpoint but before epoch 3's progress reached the
    record: the resumed run starts at 4, so the checkpoint's own metrics fill epoch 3."""
    ds = prepared(ctx, tmp_path)
    job_id = training.create_job(ctx=ctx, dataset_id=ds, epochs=5)["job_id"]
    for e in (1, 2):
        training.record_epoch(ctx=ctx, job_id=job_id, epoch=e, metrics={"mAP50": e / 10}, checkpointed=True,
                              eta_s=1.0)
    training.record_resumed(ctx=ctx, job_id=job_id, epoch=3, metrics={"mAP50": 0.3})
    training.record_epoch(ctx=ctx, job_id=job_id, epoch=4, metrics={"mAP50": 0.4}, checkpointed=True, eta_s=0.5)
    job = training.get_job(ctx=ctx, job_id=job_id)
    assert [(h["epoch"], h["mAP50"]) for h in job["history"]] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    training.record_resumed(ctx=ctx, job_id=job_id, epoch=2, metrics={"mAP50": 0.99})  # recorded: kept as is
    assert [h["mAP50"] for h in training.get_job(ctx=ctx, job_id=job_id)["history"]] == [0.1, 0.2]
