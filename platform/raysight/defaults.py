"""Defaults defined once: every API schema, service, replica and dialect that has a default for these
refers to them here (a plugin's `default_params` may show them, with the same values: a unit test
checks that they agree)."""

from __future__ import annotations

CONF = 0.25  # confidence threshold of a prediction
IOU = 0.7  # IoU threshold of non-maximum suppression
TRAIN_EPOCHS = 10
TRAIN_IMGSZ = 640
TRAIN_BATCH = -1  # automatic
