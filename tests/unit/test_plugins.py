"""Plugin discovery, the public plugin API and capabilities: the example plugin of docs/plugins.md
(installed by tests/outside_plugin.py, the session fixture `outside_plugin`) is discovered beside the
built-ins, a duplicate backend name is refused at discovery, and configuration chooses which backend
provides a capability."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from raysight.api import create_app
from raysight.backend import Operation
from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import Invalid, NotFound, Unavailable
from raysight.plugin import ModelRef, PredictOptions
from raysight.plugins import load_plugins
from raysight.services.capabilities import provider
from raysight.settings import Settings
from tests.outside_plugin import write_dist

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

DUPLICATE = '''
from raysight.plugin import Backend, Capability, hookimpl


class Shadow(Backend):
    name = "yolo"


class Reader(Backend):
    name = "dup_reader"
    capabilities = frozenset({Capability.READ_TEXT})


@hookimpl
def raysight_backends():
    return [Shadow(), Reader()]
'''


@pytest.fixture
def duplicate_on_path(tmp_path: Path):
    """A plugin ("zz_dup", read after "yolo") whose first backend takes the name "yolo"."""
    root = tmp_path / "dup"
    (root / "raysight_dup").mkdir(parents=True)
    (root / "raysight_dup" / "__init__.py").write_text(DUPLICATE)
    write_dist(root, dist="raysight-dup", version="0.1.0", entry_points={"zz_dup": "raysight_dup"})
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    sys.modules.pop("raysight_dup", None)


def test_builtins_register_through_entry_points() -> None:
    registry = load_plugins()
    assert {"yolo", "sam", "resnet", "ocr"} <= set(registry.backends)
    assert {"yolo", "sam", "resnet", "ocr"} <= registry.builtin
    assert registry.owners["yolo"] == "yolo"
    assert registry.backend_for_model_name("yolov8n.pt").name == "yolo"
    assert registry.backend_for_model_name("YOLO11s.pt").name == "yolo"
    assert registry.backend_for_model_name("resnet34").name == "resnet"
    assert registry.backend_for_model_name("unknown.pt") is None


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_builtin_plugins_import_only_the_public_plugin_api() -> None:
    for path in PLUGINS.rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith("ray.") and name != "ray", (path, name)
            if name == "raysight" or name.startswith("raysight."):
                assert name == "raysight.plugin", (path, name)
    for path in (PLUGINS.parent / "platform" / "raysight").rglob("*.py"):  # and the core names no plugin
        assert not [n for n in _imports(path) if n.startswith("raysight_")], path


def test_the_documented_plugin_is_discovered_and_listed(outside_plugin: Path, tmp_path: Path) -> None:
    registry = load_plugins()
    assert registry.owners["toy"] == registry.owners["toy_ocr"] == "toy" and "toy" not in registry.builtin
    assert registry.backend_for_model_name("toy-colour").name == "toy"
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    with TestClient(create_app(ctx)) as client:
        listed = {p["name"]: p for p in client.get("/plugins").json()["plugins"]}
    assert listed["toy"]["task"] == "classify" and listed["toy"]["plugin"] == "toy"
    assert listed["toy"]["operations"] == ["predict", "train"]
    assert listed["toy"]["capabilities"] == ["classify", "train"]
    assert listed["toy"]["default_params"] == {"model_name": "toy-colour", "epochs": 1, "imgsz": 32}
    assert listed["toy_ocr"]["capabilities"] == ["read_text"]
    assert listed["yolo"]["default_params"]["model_name"] == "yolov8n.pt"  # as before default_model_name
    ctx.close()


def test_the_documented_family_works_without_ray(outside_plugin: Path, tmp_path: Path) -> None:
    from raysight.errors import InvalidWeights

    toy = load_plugins({"toy"}).backend("toy")
    model = toy.load(toy.builtin_ref("builtin:toy"), device="cpu")
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 2] = 200
    (det,) = toy.predict(model, [image], PredictOptions())[0]
    assert det.class_name == "blue"
    weights = tmp_path / "w.json"
    weights.write_text('{"classes": ["a", "b"], "means": [[0, 0, 200], [200, 0, 0]]}')
    assert toy.check_weights(weights).classes == ["a", "b"]
    trained = toy.load(ModelRef(model_id="m", weights_path=str(weights)), device="cpu")
    assert toy.predict(trained, [image], PredictOptions())[0][0].class_name == "a"
    weights.write_text("not json")
    with pytest.raises(InvalidWeights):
        toy.check_weights(weights)


def test_allowlist_restricts_plugins(outside_plugin: Path) -> None:
    registry = load_plugins({"yolo", "toy"})
    assert set(registry.backends) == {"yolo", "toy", "toy_ocr"}
    settings = Settings(plugins="resnet, ocr")
    assert settings.plugin_allowlist == {"resnet", "ocr"}
    assert set(load_plugins(settings.plugin_allowlist).backends) == {"resnet", "ocr"}


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / "raysight_broken").mkdir(parents=True)
    (root / "raysight_broken" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    write_dist(root, dist="raysight-broken", version="0.1.0", entry_points={"broken": "raysight_broken"})
    sys.path.insert(0, str(root))
    try:
        registry = load_plugins()
    finally:
        sys.path.remove(str(root))
    assert "boom" in registry.errors["broken"]
    assert "yolo" in registry.backends


def test_a_duplicate_backend_name_is_an_error_of_the_later_plugin(duplicate_on_path: Path, tmp_path: Path) -> None:
    from raysight_yolo.backend import YoloBackend

    registry = load_plugins()
    assert isinstance(registry.backend("yolo"), YoloBackend) and registry.owners["yolo"] == "yolo"
    assert "backend name 'yolo' is already taken by plugin 'yolo'" in registry.errors["zz_dup"]
    assert registry.owners["dup_reader"] == "zz_dup"  # its other backend is used
    ctx = Platform.create(Settings(workspace=tmp_path / "ws"))
    with TestClient(create_app(ctx)) as client:
        body = client.get("/plugins").json()
    assert "already taken" in body["errors"]["zz_dup"]
    assert [p["plugin"] for p in body["plugins"] if p["name"] == "yolo"] == ["yolo"]
    ctx.close()


def test_capability_providers_by_configuration(outside_plugin: Path, duplicate_on_path: Path) -> None:
    registry = load_plugins()
    assert {b.name for b in registry.providers(Capability.READ_TEXT)} == {"ocr", "toy_ocr", "dup_reader"}
    assert registry.for_capability(Capability.READ_TEXT).name == "ocr"  # the one built-in provider
    assert registry.for_capability(Capability.READ_TEXT, prefer="toy_ocr").name == "toy_ocr"
    assert registry.for_capability(Capability.SEGMENT_WITH_PROMPTS).name == "sam"
    assert registry.for_capability(Capability.CLASSIFY_COMPONENTS).name == "resnet"
    assert registry.for_capability(Capability.CLASSIFY, requires=(Capability.TRAIN,)).name == "resnet"
    with pytest.raises(Unavailable, match="does not provide"):
        registry.for_capability(Capability.READ_TEXT, prefer="yolo")
    with pytest.raises(Unavailable, match="is not loaded"):
        registry.for_capability(Capability.READ_TEXT, prefer="nope")
    third_party = load_plugins({"toy", "zz_dup"})
    with pytest.raises(Invalid, match="RAYSIGHT_CAPABILITY_PROVIDERS=read_text=<name>") as ambiguous:
        third_party.for_capability(Capability.READ_TEXT)
    assert ambiguous.value.code == "capability_ambiguous"
    with pytest.raises(Unavailable):
        third_party.for_capability(Capability.SEGMENT_WITH_PROMPTS)


def test_capability_setting(outside_plugin: Path, tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws", capability_providers="read_text=toy_ocr, classify=toy")
    assert settings.capability_preferences == {"read_text": "toy_ocr", "classify": "toy"}
    ctx = Platform.create(settings)
    assert provider(ctx, Capability.READ_TEXT).name == "toy_ocr"
    assert provider(ctx, Capability.SEGMENT_WITH_PROMPTS).name == "sam"
    ctx.close()
    for bad in ("bogus=x", "read_text"):
        with pytest.raises(ValidationError):
            Settings(capability_providers=bad)


def test_operation_checks() -> None:
    registry = load_plugins()
    with pytest.raises(Invalid):
        registry.for_operation("ocr", Operation.TRAIN)
    with pytest.raises(NotFound):
        registry.backend("nope")
    assert registry.for_operation("yolo", Operation.PREDICT).name == "yolo"


def test_yolo_says_the_size_it_resizes_to_and_families_that_do_not_say_none() -> None:
    """Backend.input_side: a replica decodes a big JPEG smaller only for a family that names the long side
    it resizes to (YOLO: the request's imgsz, else the model's); the others see full resolution."""
    from raysight.backend import PredictOptions
    from raysight_ocr.backend import OcrBackend
    from raysight_yolo.backend import YoloBackend
    from raysight_yolo.predict import LoadedYolo

    loaded = LoadedYolo(model=None, names={}, device="cpu", imgsz=320)
    assert YoloBackend().input_side(loaded, PredictOptions()) == 320
    assert YoloBackend().input_side(loaded, PredictOptions(imgsz=128)) == 128
    assert OcrBackend().input_side(object(), PredictOptions(imgsz=128)) is None
