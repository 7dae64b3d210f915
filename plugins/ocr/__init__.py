"""raysight_ocr: PP-OCR text detection, angle classification and recognition (rapidocr-onnxruntime)."""

from __future__ import annotations

from raysight.plugin import hookimpl
from raysight_ocr.backend import OcrBackend


@hookimpl
def raysight_backends() -> list[OcrBackend]:
    return [OcrBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {"ppocr": OcrBackend.name, "ppocrv4": OcrBackend.name}
