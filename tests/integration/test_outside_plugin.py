"""The example plugin of docs/plugins.md (installed in a temp folder by tests/outside_plugin.py and put
on the path of every Ray worker by the session fixtures) gets its own Serve deployments, serves its
models, replaces the OCR engine by configuration, and trains through the public plugin API."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from raysight.context import Platform
from raysight.plugin import PredictOptions
from raysight.services import models
from raysight.settings import Settings


def _png(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_outside_plugin_model_is_served(http: httpx.Client, serve_workspace: Path) -> None:
    ctx = Platform.create(Settings(workspace=serve_workspace))
    weights = ctx.workspace.models / "toy_weights.json"
    weights.write_text(json.dumps({"classes": ["rot", "gruen", "blau"]}))
    model = models.register(ctx=ctx, plugin="toy", task_type="classify", weights_path=weights,
                            classes=["rot", "gruen", "blau"], name="toy colours")
    ctx.close()

    listed = {p["name"]: p for p in http.get("/plugins").json()["plugins"]}
    assert listed["toy"]["plugin"] == "toy"
    assert http.get("/health").json()["serve"]["deployments"]["toy"]["status"] == "HEALTHY"

    for rgb, expected in (((200, 10, 10), "rot"), ((10, 10, 220), "blau")):
        res = http.post(f"/infer/{model['model_id']}", files={"file": ("c.png", _png(rgb), "image/png")})
        assert res.status_code == 200, res.text
        (det,) = res.json()["detections"]
        assert det["class_name"] == expected
        assert det["bbox"] == {"x1": 0.0, "y1": 0.0, "x2": 48.0, "y2": 32.0}


def test_configuration_makes_imgseg_read_text_with_the_plugins_engine(http: httpx.Client,
                                                                       serve_workspace: Path) -> None:
    """RAYSIGHT_CAPABILITY_PROVIDERS=read_text=toy_ocr: predictText's lines and ingest come from the
    document's OCR engine (its own Serve deployment); without the setting the built-in one answers."""
    import asyncio

    from ray import serve

    from raysight.services.imgseg import ingest, ocr_ops
    from raysight.serving.predictor import ServePredictor
    from tests.imgseg_gen import screenshot

    image, widgets = screenshot()
    handles = {name: serve.get_deployment_handle(name, app_name="raysight") for name in ("ocr", "toy_ocr", "resnet")}
    for preference, engine in (("read_text=toy_ocr", "toy-ocr"), ("", "rapidocr")):
        ctx = Platform.create(Settings(workspace=serve_workspace, capability_providers=preference), migrate=False)
        ctx.predictor = ServePredictor(handles)
        try:
            text = asyncio.run(ocr_ops.ocr(ctx=ctx, image=image))
            assert text["engine"] == engine
            read = {line["msg"] for line in text["lines"]}
            assert {w.text for w in widgets if w.text} <= read, read
            if engine == "toy-ocr":
                page = asyncio.run(ingest.analyse(ctx=ctx, image=image, use_sam=False))["page_meta"]
                assert page["ocr"]["engine"] == "toy-ocr" and page["ocr"]["lines"] > 0
        finally:
            ctx.close()


@pytest.mark.slow
def test_the_documented_family_trains_and_serves(ray_cluster: None, tmp_path: Path) -> None:
    """A job of the document's family: its train loop returns a TrainResult, which the registry records."""
    import asyncio
    import zipfile

    from raysight.services import datasets, training
    from tests.datagen import reader_over
    from tests.training_helpers import make_ctx, wait_for

    archive = tmp_path / "colours.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, rgb in (("warm", (200, 60, 30)), ("cold", (30, 60, 200))):
            for i in range(8):
                pixels = np.clip(rng.normal(rgb, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
                buf = io.BytesIO()
                Image.fromarray(pixels).save(buf, format="PNG")
                zf.writestr(f"{name}/{name}_{i}.png", buf.getvalue())
    for ctx in make_ctx(tmp_path):
        ds = asyncio.run(datasets.upload(ctx=ctx, filename=archive.name, read=reader_over(archive.read_bytes())))
        datasets.prepare(ctx=ctx, dataset_id=ds["dataset_id"])
        out = training.create_job(ctx=ctx, dataset_id=ds["dataset_id"], model_name="toy-colour", epochs=2, imgsz=32,
                                  batch=4)
        job = wait_for(ctx, out["job_id"], timeout=300)
        assert job["status"] == "completed" and job["plugin"] == "toy", job
        assert [h["epoch"] for h in job["history"]] == [1, 2] and job["checkpoint_epoch"] == 2
        model = models.get(ctx=ctx, model_id=job["model_id"])
        assert model["plugin"] == "toy" and model["metrics"] == {"accuracy": 1.0}
        assert sorted(model["classes"]) == ["cold", "warm"] and model["weights_path"].endswith("best.json")
        ref = models.model_ref(ctx=ctx, model_id=model["model_id"])
        assert ref.params["imgsz"] == 32 and ref.params["model_name"] == "toy-colour"
        toy = ctx.plugins.backend("toy")
        saved = json.loads(Path(model["weights_path"]).read_text())
        assert toy.check_weights(Path(model["weights_path"])).classes == saved["classes"]
        warm = np.full((16, 16, 3), (210, 70, 40), np.uint8)
        assert toy.predict(toy.load(ref, device="cpu"), [warm], PredictOptions())[0][0].class_name == "warm"
