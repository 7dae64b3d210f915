"""The OCR plugin (rapidocr's PP-OCRv4 models, offline) reads generated screenshots through the
`read_text` capability; the platform derives predictText's colours and line heights from its lines."""

from __future__ import annotations

import pytest

from raysight.plugin import Capability, RunOp
from raysight.services.imgseg import textinfo
from raysight_ocr.backend import OcrBackend
from tests.imgseg_gen import iou, screenshot


@pytest.fixture(scope="module")
def ocr() -> tuple[OcrBackend, object]:
    backend = OcrBackend()
    return backend, backend.load(backend.builtin_ref("builtin:ocr"), device="cpu")


def test_reads_drawn_strings(ocr) -> None:
    backend, model = ocr
    image, widgets = screenshot()
    assert backend.provides(Capability.READ_TEXT) and backend.builtin_key() == "builtin:ocr"
    raw = backend.run(model, RunOp.READ_TEXT, {"image": image})
    assert raw["engine"] == "rapidocr" and {"box", "text", "score"} <= set(raw["lines"][0])
    res = textinfo.describe(image, raw["lines"])
    assert res["align"] in ("left", "center", "right")
    texts = {line["msg"]: line for line in res["lines"]}
    for w in widgets:
        if w.text:
            assert w.text in texts, (w.text, list(texts))
    submit = texts["Submit"]
    assert submit["color"][0] > 200 and submit["backgroundColor"][2] > 200  # white on blue
    assert submit["line_height"] >= submit["height"]
    title = texts["Welcome back"]
    x, y = title["left_top_coord"]
    drawn = next(w.box for w in widgets if w.text == "Welcome back")
    assert iou((x, y, x + title["width"], y + title["height"]), drawn) > 0.5


def test_predict_detections(ocr) -> None:
    from raysight.plugin import PredictOptions

    backend, model = ocr
    image, _ = screenshot()
    dets = backend.predict(model, [image], PredictOptions(conf=0.5))[0]
    assert any(d.extra["text"] == "Submit" for d in dets)
