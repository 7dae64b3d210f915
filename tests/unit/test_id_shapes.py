"""Every id the platform hands out comes from raysight.ids and keeps its visible shape."""

from __future__ import annotations

import re
from pathlib import Path

from raysight import ids
from raysight.context import Platform
from raysight.services import models, tasks
from raysight.settings import Settings

STAMPED = r"\d{8}_\d{6}_[0-9a-f]{6}"


def test_helpers_shapes() -> None:
    assert re.fullmatch(rf"job_{STAMPED}", ids.timestamped_id("job"))
    assert re.fullmatch(r"ingest_[0-9a-f]{16}", ids.random_id("ingest"))
    assert re.fullmatch(r"Train-imgseg-[0-9a-f-]{36}", ids.uuid_id("Train-imgseg-", sep=""))
    assert re.fullmatch(r"samPredict_[0-9a-f-]{36}", ids.uuid_id("samPredict", time_based=True))


def test_records_and_files_keep_their_shapes(tmp_path: Path) -> None:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    try:
        weights = tmp_path / "w.pt"
        weights.write_bytes(b"x")
        model = models.register(ctx=ctx, plugin="yolo", task_type="detect", weights_path=weights, classes=[],
                                name="m")
        assert re.fullmatch(rf"model_{STAMPED}", model["model_id"])
        assert re.fullmatch(r"ingest_[0-9a-f]{16}", tasks.create(ctx=ctx, kind="ingest"))
        assert re.fullmatch(r"infer_[0-9a-f]{12}\.png", ctx.workspace.new_upload_path("infer", ".png").name)
    finally:
        ctx.close()
