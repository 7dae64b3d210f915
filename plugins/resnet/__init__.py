"""raysight_resnet: image classification with torchvision ResNets (also UI component types)."""

from __future__ import annotations

from raysight.plugin import hookimpl
from raysight_resnet.backend import MODEL_NAMES, ResnetBackend


@hookimpl
def raysight_backends() -> list[ResnetBackend]:
    return [ResnetBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {name: ResnetBackend.name for name in MODEL_NAMES}
