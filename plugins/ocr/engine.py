"""OCR engines: rapidocr-onnxruntime (PP-OCRv4 det + mobile angle cls + PP-OCRv4 rec, shipped
inside the package, works offline) and, when installed with local models, paddleocr.

Both are wrapped to one call: RGB image -> [{"box": 4 points, "text", "score"}].
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class OcrEngine:
    name: str
    impl: Any

    def read(self, image: np.ndarray, *, use_cls: bool = True) -> list[dict[str, Any]]:
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        if self.name == "paddleocr":
            return _read_paddle(self.impl, bgr, use_cls)
        result, _elapsed = self.impl(bgr, use_cls=use_cls)
        lines = []
        for box, text, score in result or []:
            lines.append({"box": [[float(x), float(y)] for x, y in box], "text": str(text), "score": float(score)})
        return lines


def _read_paddle(engine: Any, bgr: np.ndarray, use_cls: bool) -> list[dict[str, Any]]:
    raw = engine.ocr(bgr, cls=use_cls)
    lines = []
    for page in raw or []:
        for box, (text, score) in page or []:
            lines.append({"box": [[float(x), float(y)] for x, y in box], "text": str(text), "score": float(score)})
    return lines


def paddle_models_present(model_dir: str | None) -> bool:
    """paddleocr is used only with its det/rec models already on disk (it would download them)."""
    if not model_dir or importlib.util.find_spec("paddleocr") is None:
        return False
    root = Path(model_dir)
    return all((root / sub).is_dir() and any((root / sub).iterdir()) for sub in ("det", "rec"))


def create(engine: str = "auto", *, model_dir: str | None = None, params: dict[str, Any] | None = None) -> OcrEngine:
    """`engine`: "rapidocr", "paddleocr" or "auto" (paddleocr when usable offline, else rapidocr)."""
    params = params or {}
    if engine in ("paddleocr", "auto") and paddle_models_present(model_dir):
        from paddleocr import PaddleOCR  # type: ignore[import-not-found]

        root = Path(model_dir or "")
        cls_dir = root / "cls"
        impl = PaddleOCR(
            use_angle_cls=cls_dir.is_dir(), det_model_dir=str(root / "det"), rec_model_dir=str(root / "rec"),
            cls_model_dir=str(cls_dir) if cls_dir.is_dir() else None, show_log=False,
        )
        return OcrEngine("paddleocr", impl)
    if engine == "paddleocr":
        log.warning("paddleocr requested but not installed or its models are absent; using rapidocr")
    from rapidocr_onnxruntime import RapidOCR

    kwargs = {k: v for k, v in params.items() if k in ("text_score", "det_limit_side_len", "box_thresh")}
    return OcrEngine("rapidocr", RapidOCR(**kwargs))
