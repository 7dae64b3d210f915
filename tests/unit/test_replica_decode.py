"""A CPU model replica reads an upload's header once: `predict` probes it (bad images are refused before a
model loads) and hands that probe with the bytes to the batch's decode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from raysight import imaging
from raysight.serving import model_deployment as md
from raysight.settings import Settings


class Backend:
    def input_side(self, _model: Any, _opts: Any) -> int:
        return 32

    def predict(self, _model: Any, images: list[np.ndarray], _opts: Any) -> list[list[Any]]:
        self.sizes = [image.shape[:2] for image in images]
        return [[] for _ in images]


def test_the_batch_decode_does_not_read_the_header_again(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = imaging.probe
    monkeypatch.setattr(imaging, "probe", lambda data, **kw: reads.append(len(data)) or real(data, **kw))
    replica = object.__new__(md.ModelDeployment.func_or_class)
    replica.settings, replica.backend, replica.backend_name = Settings(), Backend(), "fake"
    jpeg = imaging.encode_jpeg(np.zeros((256, 192, 3), np.uint8))
    holder = md.LoadedModel(key="m@1", model=object())
    opts = md._predict_options({})

    answers = replica._predict_group(holder, [md._Encoded(jpeg, real(jpeg))], opts)
    assert answers == [[]] and reads == []  # the probe came with the bytes
    assert replica.backend.sizes == [(32, 24)]  # decoded at 1/8: the model works at 32 px
    answers = replica._predict_group(holder, [jpeg, b"\xff\xd8\xff not a jpeg"], opts)  # bare bytes: read here
    assert answers[0] == [] and isinstance(answers[1], md._Failed) and len(reads) == 2
