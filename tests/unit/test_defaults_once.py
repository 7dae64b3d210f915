"""conf / iou / training defaults are defined once (raysight.defaults) and agree wherever they show."""

from __future__ import annotations

import inspect

from raysight import defaults
from raysight.api.native.train import CreateJobRequest
from raysight.backend import PredictOptions
from raysight.plugins import load_plugins
from raysight.services import inference, training
from raysight.services.filerec.parameters import DEFAULTS

PREDICT = {"conf": defaults.CONF, "iou": defaults.IOU}
TRAIN = {"epochs": defaults.TRAIN_EPOCHS, "imgsz": defaults.TRAIN_IMGSZ, "batch": defaults.TRAIN_BATCH}


def test_every_layer_uses_the_same_values() -> None:
    opts = PredictOptions()
    assert {"conf": opts.conf, "iou": opts.iou} == PREDICT
    assert inference.options() == {**PREDICT, "imgsz": None}
    params = inspect.signature(training.create_job).parameters
    assert {k: params[k].default for k in TRAIN} == TRAIN
    assert {k: CreateJobRequest.model_fields[k].default for k in TRAIN} == TRAIN
    assert {k: DEFAULTS["recognizer"][k] for k in PREDICT} == PREDICT
    assert {k: DEFAULTS["training"][k] for k in TRAIN} == TRAIN


def test_plugins_that_show_a_predict_default_show_the_platforms() -> None:
    """conf / iou reach every family from PredictOptions; a family's training defaults may be its own
    (resnet trains at 224 px)."""
    for name, backend in load_plugins(None).backends.items():
        shown = {k: v for k, v in backend.default_params.items() if k in PREDICT}
        assert shown == {k: v for k, v in PREDICT.items() if k in shown}, name
