"""The OCR backend: PP-OCR detection + angle classification + recognition; the platform's built-in
provider of the `read_text` capability.

``builtin:ocr`` is the only model: rapidocr-onnxruntime with the PP-OCRv4 models it ships, or
paddleocr when installed and its models lie in the weights folder (``weights/paddleocr/{det,rec,cls}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from raysight.plugin import (
    Backend,
    Capability,
    Detection,
    Invalid,
    ModelRef,
    Operation,
    PredictOptions,
    RunOp,
    TaskType,
)

BUILTIN_KEY = "builtin:ocr"


def _rgb(image: Any) -> np.ndarray:
    if isinstance(image, (bytes, bytearray, memoryview)):
        import cv2

        arr = cv2.imdecode(np.frombuffer(bytes(image), np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            raise Invalid("the image could not be decoded")
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8, copy=False))


class OcrBackend(Backend):
    name: ClassVar[str] = "ocr"
    task: ClassVar[TaskType] = TaskType.OCR
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ_TEXT})
    dataset_formats: ClassVar[tuple[str, ...]] = ()
    default_params: ClassVar[dict[str, Any]] = {"engine": "auto"}

    def builtin_ref(self, key: str) -> ModelRef | None:
        if key not in (BUILTIN_KEY, "builtin:ocr:rapidocr", "builtin:ocr:paddleocr"):
            return None
        engine = key.split(":")[2] if key.count(":") == 2 else "auto"
        return ModelRef(model_id=key, weights_path=None, classes=["text"],
                        params={"engine": engine, "task_type": str(self.task), "plugin": self.name})

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_ocr import engine

        model_dir = ref.params.get("paddle_model_dir")
        if not model_dir and ref.weights_dir:
            model_dir = str(Path(ref.weights_dir) / "paddleocr")
        return engine.create(str(ref.params.get("engine", "auto")), model_dir=model_dir, params=ref.params)

    def run(self, model: Any, op: str, payload: dict[str, Any]) -> Any:
        """``read_text``: {image, use_cls?} -> {"engine", "lines": [{"box": 4 [x, y] points, "text",
        "score"}]} (the `read_text` capability)."""
        if op != RunOp.READ_TEXT:
            raise Invalid(f"ocr has no operation '{op}'")
        image = _rgb(payload["image"])
        return {"engine": model.name, "lines": model.read(image, use_cls=bool(payload.get("use_cls", True)))}

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        out = []
        for image in images:
            dets = []
            for line in model.read(_rgb(image)):
                if line["score"] < options.conf:
                    continue
                pts = np.asarray(line["box"])
                (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
                dets.append(Detection(0, "text", line["score"], float(x1), float(y1), float(x2), float(y2),
                                      extra={"text": line["text"], "polygon": line["box"]}))
            out.append(dets)
        return out
