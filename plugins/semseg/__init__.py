"""raysight_semseg: semantic segmentation (a class per pixel) with torchvision LR-ASPP / DeepLabV3."""

from __future__ import annotations

from raysight.hookspecs import hookimpl
from raysight_semseg.backend import MODEL_NAMES, SemsegBackend


@hookimpl
def raysight_backends() -> list[SemsegBackend]:
    return [SemsegBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {name: SemsegBackend.name for name in MODEL_NAMES}
