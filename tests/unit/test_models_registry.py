"""The model registry: list / get / update / delete, uploads, installing a run's artifacts (no Ray)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.context import Platform
from raysight.services import models
from raysight.train_result import TrainResult, write_final
from raysight_resnet.model import build_resnet, save_weights

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/postgres.py)


def resnet_file(path: Path, classes: list[str]) -> Path:
    save_weights(path, arch="resnet18", classes=classes, state_dict=build_resnet("resnet18", len(classes)).state_dict(),
                 imgsz=64)
    return path


def yolo_file(path: Path) -> Path:
    """A real (untrained) ultralytics checkpoint with two class names."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=2, verbose=False)
    model.names = {0: "square", 1: "circle"}
    torch.save({"model": model, "epoch": -1}, path)
    return path


def installed(ctx: Platform, tmp_path: Path) -> dict:
    art = tmp_path / "art"
    art.mkdir()
    resnet_file(art / "best.pth", ["a", "b"])
    (art / "results.png").write_bytes(b"\x89PNG fake plot")
    result = TrainResult(weights=art / "best.pth", metrics={"accuracy": 0.9, "loss": 0.2},
                         plots=[art / "results.png", art / "nope.png"])
    write_final(result, art, metrics=result.metrics, classes=["a", "b"], epoch=3, task_type="classify",
                model_name="resnet18", imgsz=64)
    job = {"job_id": "job_x", "dataset_id": "ds_x", "version": "v1", "plugin": "resnet", "task_type": "classify",
           "model_name": "resnet18", "imgsz": 64, "epochs": 3, "pretrained": False, "base_model_id": None}
    return models.install_trained(ctx=ctx, job=job, artifacts=art)


def test_installed_model_has_files_plots_and_metrics(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    model = installed(ctx, tmp_path)
    mid = model["model_id"]
    weights = Path(model["weights_path"])
    assert weights == ctx.workspace.model_dir(mid) / "weights" / "best.pth" and weights.is_file()
    size = weights.stat().st_size
    assert model["file_size"] == size and model["file_size_mb"] == round(size / 2**20, 2)
    assert model["metrics"] == model["training_metrics"] == {"accuracy": 0.9, "loss": 0.2}
    assert model["classes"] == ["a", "b"] and model["task_type"] == "classify" and model["plugin"] == "resnet"
    assert model["job_id"] == "job_x" and model["dataset_id"] == "ds_x" and model["name"] == "resnet18_ds_x"
    assert model["plots"] == [f"/models/{mid}/files/results.png"]
    assert client.get(model["plots"][0]).content == b"\x89PNG fake plot"
    body = client.get(f"/models/{mid}").json()
    for key in ("model_id", "name", "description", "weights_path", "file_size", "file_size_mb", "created_at",
                "job_id", "dataset_id", "tags", "training_metrics"):
        assert key in body
    assert [m["model_id"] for m in client.get("/models").json()["models"]] == [mid]


def test_update_and_delete(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    mid = installed(ctx, tmp_path)["model_id"]
    r = client.put(f"/models/{mid}", json={"name": "Updated Model Name", "description": "d", "tags": ["x", "y"]})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["description"], r.json()["tags"]) == ("Updated Model Name", "d", ["x", "y"])
    r = client.put(f"/models/{mid}", json={"description": "only this"})
    assert r.json()["name"] == "Updated Model Name" and r.json()["description"] == "only this"
    assert client.put(f"/models/{mid}", json={"name": " "}).status_code == 400
    assert client.put("/models/model_nope", json={"name": "x"}).status_code == 404
    r = client.delete(f"/models/{mid}")
    assert r.status_code == 200 and r.json() == {"ok": True, "message": "Model deleted successfully"}
    assert client.get(f"/models/{mid}").status_code == 404
    assert not ctx.workspace.model_dir(mid).exists()
    assert client.delete(f"/models/{mid}").status_code == 404
    assert client.get("/models/../etc/passwd").status_code == 404


def test_upload_resnet_and_yolo_weights(ctx: Platform, client: TestClient, tmp_path: Path) -> None:
    pth = resnet_file(tmp_path / "mine.pth", ["cat", "dog"])
    r = client.post("/models/upload", data={"plugin": "resnet", "name": "my resnet", "classes": "cat, dog",
                                            "tags": "a,b"},
                    files={"file": ("mine.pth", pth.read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["classes"] == ["cat", "dog"] and m["plugin"] == "resnet" and m["task_type"] == "classify"
    assert m["name"] == "my resnet" and m["tags"] == ["a", "b"] and m["weights_path"].endswith("weights/best.pth")
    assert Path(m["weights_path"]).read_bytes() == pth.read_bytes()

    pt = yolo_file(tmp_path / "det.pt")
    r = client.post("/models/upload", data={"plugin": "yolov8n.pt"},
                    files={"file": ("det.pt", pt.read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert r.json()["classes"] == ["square", "circle"] and r.json()["plugin"] == "yolo" and r.json()["name"] == "det"
    assert len(client.get("/models").json()["models"]) == 2


@pytest.mark.parametrize(
    ("data", "filename", "status"),
    [
        ({"plugin": "nosuch"}, "w.pt", 400),
        ({"plugin": "resnet"}, "w.onnx", 400),
        ({}, "w.pth", 400),
        ({"plugin": "resnet"}, None, 400),
    ],
)
def test_upload_errors(client: TestClient, ctx: Platform, data: dict, filename: str | None, status: int) -> None:
    files = {"file": (filename, io.BytesIO(b"weights"), "application/octet-stream")} if filename else None
    r = client.post("/models/upload", data=data, files=files)
    assert r.status_code == status, r.text
    assert list(ctx.workspace.models.iterdir()) == []


def test_service_delete_evicts_through_inference(ctx: Platform, tmp_path: Path) -> None:
    mid = installed(ctx, tmp_path)["model_id"]
    try:
        import raysight.services.inference  # noqa: F401
    except ModuleNotFoundError as exc:  # the serving side is written separately; only its absence is tolerated
        assert exc.name == "raysight.services.inference"
        pytest.skip("raysight.services.inference not available yet")
    assert asyncio.run(models.delete(ctx=ctx, model_id=mid))["ok"] is True
    assert models.latest(ctx=ctx, plugin="resnet") is None


def test_the_serving_key_follows_the_record(ctx: Platform, tmp_path: Path) -> None:
    """What every inference request resolves: (family, `<id>@<updated_at in ms>`), read without an ORM session;
    a new key once the record changes, NotFound once it is gone."""
    from raysight.errors import Invalid, NotFound

    model = installed(ctx, tmp_path)
    mid = model["model_id"]
    plugin, key = models.serving_key(ctx=ctx, model_id=mid)
    with ctx.db.session() as s:
        updated = models._load(s, mid).updated_at
    assert plugin == "resnet" and key == f"{mid}@{int(updated.timestamp() * 1000)}"  # as the ORM reads it
    models.update(ctx=ctx, model_id=mid, name="renamed")
    assert models.serving_key(ctx=ctx, model_id=mid)[1] != key
    asyncio.run(models.delete(ctx=ctx, model_id=mid))
    with pytest.raises(NotFound):
        models.serving_key(ctx=ctx, model_id=mid)
    with pytest.raises((Invalid, NotFound)):
        models.serving_key(ctx=ctx, model_id="../etc")
