"""A third-party plugin (made in a temp folder by tests/outside_plugin.py and put on the path of
every Ray worker by the session fixtures) gets its own Serve deployment and serves its models."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from raysight.context import Platform
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
