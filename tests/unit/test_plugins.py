from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Invalid, NotFound
from raysight.plugins import load_plugins
from raysight.settings import Settings
from tests.outside_plugin import make_outside_plugin


@pytest.fixture
def toy_on_path(tmp_path: Path):
    root = make_outside_plugin(tmp_path / "site", name="toy2", module="raysight_toy2", backend="toy2")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    sys.modules.pop("raysight_toy2", None)


def test_builtins_register_through_entry_points() -> None:
    registry = load_plugins()
    assert {"yolo", "sam", "resnet", "ocr"} <= set(registry.backends)
    assert registry.owners["yolo"] == "yolo"
    assert registry.backend_for_model_name("yolov8n.pt").name == "yolo"
    assert registry.backend_for_model_name("YOLO11s.pt").name == "yolo"
    assert registry.backend_for_model_name("resnet34").name == "resnet"
    assert registry.backend_for_model_name("unknown.pt") is None


def test_outside_plugin_is_discovered_and_listed(toy_on_path: Path, tmp_path: Path) -> None:
    registry = load_plugins()
    assert "toy2" in registry.backends
    assert registry.owners["toy2"] == "toy2"
    assert registry.backend_for_model_name("toy2-colour").name == "toy2"
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    with TestClient(create_app(ctx)) as client:
        listed = {p["name"]: p for p in client.get("/plugins").json()["plugins"]}
    assert listed["toy2"]["task"] == "classify"
    assert listed["toy2"]["operations"] == ["predict"]
    assert listed["toy2"]["plugin"] == "toy2"


def test_allowlist_restricts_plugins(toy_on_path: Path) -> None:
    registry = load_plugins({"yolo", "toy2"})
    assert set(registry.backends) == {"yolo", "toy2"}
    settings = Settings(plugins="resnet, ocr")
    assert settings.plugin_allowlist == {"resnet", "ocr"}
    assert set(load_plugins(settings.plugin_allowlist).backends) == {"resnet", "ocr"}


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path) -> None:
    root = make_outside_plugin(tmp_path / "broken", name="broken", module="raysight_broken")
    (root / "raysight_broken" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    sys.path.insert(0, str(root))
    try:
        registry = load_plugins()
    finally:
        sys.path.remove(str(root))
    assert "boom" in registry.errors["broken"]
    assert "yolo" in registry.backends


def test_operation_checks() -> None:
    registry = load_plugins()
    with pytest.raises(Invalid):
        registry.for_operation("ocr", Operation.TRAIN)
    with pytest.raises(NotFound):
        registry.backend("nope")
    assert registry.for_operation("yolo", Operation.PREDICT).name == "yolo"
