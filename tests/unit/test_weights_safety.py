"""No code runs from uploaded or registered weights (issue 9, row 1), and every family checks a weights
file against its architecture (Backend.check_weights). Each attack uses a real crafted pickle whose
unpickling creates a marker file; a control proves that an ordinary (unsafe) load does run it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from fastapi.testclient import TestClient

from raysight.backend import PredictOptions
from raysight.context import Platform
from raysight.errors import InvalidWeights
from raysight.services import models, training
from raysight_resnet.model import build_resnet, load_start_weights, save_weights
from tests.unit.test_training_service import prepared


class Payload:
    """Unpickling this calls open(marker, "w"): the file appears iff code from the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def crafted(path: Path, marker: Path, key: str = "state_dict") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: Payload(marker), "arch": "resnet18"}, path)
    return path


def fresh_yolo(path: Path, names: dict[int, str] | None = None) -> Path:
    """A real ultralytics checkpoint: YOLOv8n with fresh weights, as YOLO.save() writes it."""
    from ultralytics.nn.tasks import DetectionModel

    names = names or {0: "square", 1: "circle"}
    model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.names = names
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "epoch": -1}, path)
    return path


def upload(client: TestClient, path: Path, plugin: str, **data: str):
    return client.post("/models/upload", data={"plugin": plugin, **data},
                       files={"file": (path.name, path.read_bytes(), "application/octet-stream")})


def test_the_crafted_file_is_a_real_attack(tmp_path: Path) -> None:
    """Control: what today's main did (weights_only=False) runs the payload."""
    marker = tmp_path / "ran"
    torch.load(crafted(tmp_path / "x.pth", marker), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(("plugin", "name", "key"), [("resnet", "evil.pth", "state_dict"), ("yolo", "evil.pt", "model"),
                                                     ("yolov8n.pt", "evil.pt", "ema"), ("sam", "evil.pth", "model")])
def test_crafted_pickle_upload_is_refused(client: TestClient, ctx: Platform, tmp_path: Path, plugin: str, name: str,
                                          key: str) -> None:
    marker = tmp_path / "pwned"
    r = upload(client, crafted(tmp_path / name, marker, key), plugin)
    assert r.status_code == 400, r.text
    assert "refused" in r.json()["detail"] and name in r.json()["detail"]
    assert not marker.exists()
    assert list(ctx.workspace.models.iterdir()) == [] and client.get("/models").json()["models"] == []


@pytest.mark.parametrize(("plugin", "name"), [("resnet", "notes.pth"), ("yolo", "notes.pt"), ("sam", "notes.pt")])
def test_text_file_upload_is_refused(client: TestClient, ctx: Platform, tmp_path: Path, plugin: str, name: str) -> None:
    path = tmp_path / name
    path.write_text("these are not weights\n" * 20)
    r = upload(client, path, plugin)
    assert r.status_code == 400 and "cannot be read" in r.json()["detail"], r.text
    assert list(ctx.workspace.models.iterdir()) == []


def test_wrong_shapes_are_refused_naming_the_mismatch(client: TestClient, ctx: Platform, tmp_path: Path) -> None:
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
    torch.save(state, tmp_path / "odd.pth")
    r = upload(client, tmp_path / "odd.pth", "resnet")
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == ("'odd.pth' does not fit resnet18: layer1.0.conv1.weight has shape [32, 64, 3, 3] "
                                  "where the architecture has [64, 64, 3, 3]")
    good = save_weights_file(tmp_path / "r18.pth", ["a", "b"])
    r = upload(client, good, "resnet50")  # a model name requires that architecture
    assert r.status_code == 400 and "does not fit resnet50" in r.json()["detail"], r.text
    r = upload(client, good, "resnet", classes="a,b,c")
    assert r.status_code == 400 and "3 class names" in r.json()["detail"], r.text
    assert list(ctx.workspace.models.iterdir()) == []


def save_weights_file(path: Path, classes: list[str]) -> Path:
    save_weights(path, arch="resnet18", classes=classes, state_dict=build_resnet("resnet18", len(classes)).state_dict(),
                 imgsz=64)
    return path


def test_valid_resnet_and_yolo_are_accepted_and_served(client: TestClient, ctx: Platform, tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    r = upload(client, save_weights_file(tmp_path / "cls.pth", ["cat", "dog"]), "resnet")
    assert r.status_code == 200, r.text
    resnet = r.json()
    assert resnet["classes"] == ["cat", "dog"] and resnet["plugin"] == "resnet"
    # a bare torchvision state dict (what download.pytorch.org serves) is accepted too
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), tmp_path / "tv.pth")
    r = upload(client, tmp_path / "tv.pth", "resnet18", classes="a,b,c")
    assert r.status_code == 200 and r.json()["classes"] == ["a", "b", "c"], r.text
    r = upload(client, fresh_yolo(tmp_path / "det.pt"), "yolo")
    assert r.status_code == 200, r.text
    yolo = r.json()
    assert yolo["classes"] == ["square", "circle"] and yolo["plugin"] == "yolo"
    served = {}
    for record in (resnet, yolo):  # what a serving replica does with the record
        backend = ctx.plugins.backends[record["plugin"]]
        loaded = backend.load(models.model_ref(ctx=ctx, model_id=record["model_id"]), device="cpu")
        served[record["plugin"]] = backend.predict(loaded, [image], PredictOptions(conf=0.0))
    assert [d.class_name for d in served["resnet"][0]][0] in ("cat", "dog")
    assert len(served["yolo"]) == 1 and all(d.class_name in ("square", "circle") for d in served["yolo"][0])


@pytest.mark.parametrize(("kind", "name", "key"), [("resnet", "best.pth", "state_dict"), ("yolo", "best.pt", "model")])
def test_registered_crafted_file_is_refused_by_serving(ctx: Platform, tmp_path: Path, kind: str, name: str,
                                                      key: str) -> None:
    """A file that reached the registry some other way (copied in, an older version) is still never run."""
    marker = tmp_path / "pwned"
    path = crafted(ctx.workspace.model_dir("model_evil") / "weights" / name, marker, key)
    models.register(ctx=ctx, plugin=kind, task_type="classify" if kind == "resnet" else "detect", weights_path=path,
                    classes=["a"], name="evil", model_id="model_evil")
    with pytest.raises(InvalidWeights, match="refused"):
        ctx.plugins.backends[kind].load(models.model_ref(ctx=ctx, model_id="model_evil"), device="cpu")
    assert not marker.exists()


def test_fine_tuning_from_a_crafted_registered_model_is_refused(ctx: Platform, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = crafted(ctx.workspace.model_dir("model_evil") / "weights" / "best.pth", marker)
    models.register(ctx=ctx, plugin="resnet", task_type="classify", weights_path=path, classes=["a"], name="evil",
                    model_id="model_evil")
    ds = prepared(ctx, tmp_path, "classify")
    with pytest.raises(InvalidWeights, match="refused"):  # at job creation: no worker ever gets the file
        training.create_job(ctx=ctx, dataset_id=ds, imgsz=64, base_model_id="model_evil")
    assert training.list_jobs(ctx=ctx)["jobs"] == []
    with pytest.raises(InvalidWeights, match="refused"):  # and the worker's own loader refuses it too
        load_start_weights(build_resnet("resnet18", 2), path)
    assert not marker.exists()


def test_yolo_worker_and_ultralytics_loads_are_restricted(tmp_path: Path) -> None:
    """The train worker's loader, and ultralytics' own YOLO(path) once enforced, refuse the payload."""
    from ultralytics import YOLO

    from raysight_yolo.safe_load import enforce, open_model

    marker = tmp_path / "pwned"
    evil = crafted(tmp_path / "evil.pt", marker, "model")
    with pytest.raises(InvalidWeights, match="refused"):
        open_model(evil)
    enforce()
    with pytest.raises(TypeError):
        YOLO(str(evil))
    assert not marker.exists()
    assert open_model(fresh_yolo(tmp_path / "ok.pt")).names == {0: "square", 1: "circle"}


def test_check_weights_names_the_architecture(tmp_path: Path, ctx: Platform) -> None:
    from raysight_sam.build import build_architecture

    yolo, resnet, sam = (ctx.plugins.backends[k] for k in ("yolo", "resnet", "sam"))
    info = yolo.check_weights(fresh_yolo(tmp_path / "y.pt"))
    assert (info.family, info.arch, info.model_name, info.num_classes) == ("yolo", "yolov8n", "yolov8n.pt", 2)
    with pytest.raises(InvalidWeights, match="holds a yolov8n, not a yolo11n"):
        yolo.check_weights(tmp_path / "y.pt", arch="yolo11n.pt")
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    info = resnet.check_weights(tmp_path / "r50.pth")
    assert (info.arch, info.num_classes, info.format) == ("resnet50", 1000, "torchvision state dict")
    torch.save(build_architecture("vit_t").state_dict(), tmp_path / "mobile.pt")
    assert sam.check_weights(tmp_path / "mobile.pt").params == {"model_type": "vit_t"}
    with pytest.raises(InvalidWeights, match="does not fit SAM vit_b"):
        sam.check_weights(tmp_path / "mobile.pt", arch="sam_vit_b_01ec64.pth")
    with pytest.raises(InvalidWeights, match="takes no weights"):
        ctx.plugins.backends["ocr"].check_weights(tmp_path / "mobile.pt")
