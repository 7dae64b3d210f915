"""A registered model whose file is a crafted pickle is refused by the real Serve replicas (400 in the
native envelope) and nothing from it runs there (issue 9, row 1)."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from raysight.context import Platform
from raysight.services import models
from raysight.settings import Settings
from tests.unit.test_weights_safety import crafted

pytestmark = pytest.mark.ray


@pytest.mark.parametrize(("kind", "task", "name", "key"), [("resnet", "classify", "best.pth", "state_dict"),
                                                            ("yolo", "detect", "best.pt", "model")])
def test_serving_refuses_a_crafted_registered_file(http: httpx.Client, serve_workspace: Path, tmp_path: Path,
                                                   kind: str, task: str, name: str, key: str) -> None:
    marker = tmp_path / "pwned"
    ctx = Platform.create(Settings(workspace=serve_workspace))
    try:
        model_id = f"model_evil_{kind}"
        path = crafted(ctx.workspace.model_dir(model_id) / "weights" / name, marker, key)
        models.register(ctx=ctx, plugin=kind, task_type=task, weights_path=path, classes=["a"], name="evil",
                        model_id=model_id)
    finally:
        ctx.close()
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    r = http.post(f"/infer/{model_id}", files={"file": ("p.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400, r.text
    assert "refused" in r.json()["detail"]
    assert not marker.exists()
