"""Builds a small third-party plugin package (with entry-point metadata) in a folder, the way
`pip install` would lay it out, so tests can prove outside plugins are discovered and served."""

from __future__ import annotations

import textwrap
from pathlib import Path

PLUGIN_SOURCE = '''
"""raysight_toy: a third-party model family. Classifies an image by its dominant colour channel."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from raysight.backend import Backend, Detection, ModelRef, Operation, PredictOptions, TaskType
from raysight.hookspecs import hookimpl

DEFAULT_CLASSES = ["red", "green", "blue"]


class ToyBackend(Backend):
    name: ClassVar[str] = "__BACKEND__"
    task: ClassVar[TaskType] = TaskType.CLASSIFY
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT})
    default_params: ClassVar[dict[str, Any]] = {"channels": 3}

    def builtin_ref(self, key: str) -> ModelRef | None:
        if key == "builtin:__BACKEND__":
            return ModelRef(model_id=key, weights_path=None, classes=DEFAULT_CLASSES)
        return None

    def load(self, ref: ModelRef, *, device: str) -> Any:
        classes = list(ref.classes) or DEFAULT_CLASSES
        if ref.weights_path:
            classes = json.loads(open(ref.weights_path).read()).get("classes", classes)
        return {"classes": classes}

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        out = []
        for image in images:
            means = image.reshape(-1, 3).mean(axis=0)
            idx = int(np.argmax(means))
            conf = float(means[idx] / max(means.sum(), 1e-6))
            h, w = image.shape[:2]
            out.append([Detection(idx, model["classes"][idx], conf, 0.0, 0.0, float(w), float(h))])
        return out

    def run(self, model: Any, op: str, payload: dict[str, Any]) -> Any:
        if op == "classes":
            return model["classes"]
        return super().run(model, op, payload)


@hookimpl
def raysight_backends() -> list[ToyBackend]:
    return [ToyBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {"__BACKEND__-colour": "__BACKEND__"}
'''


def make_outside_plugin(root: Path, *, name: str = "toy", module: str = "raysight_toy", backend: str = "toy") -> Path:
    """Write the package and its dist-info (METADATA + entry_points.txt) under `root`; `backend` names the
    model family it registers (so two test plugins never collide in one process)."""
    root.mkdir(parents=True, exist_ok=True)
    pkg = root / module
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(PLUGIN_SOURCE.replace("__BACKEND__", backend))
    dist = root / f"{module}-0.1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [raysight.plugins]
        {name} = {module}
        """))
    (dist / "RECORD").write_text("")
    return root
