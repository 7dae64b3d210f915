"""raysight_sam: promptable segmentation with segment-anything (vit_h/l/b) and MobileSAM (vit_t)."""

from __future__ import annotations

from raysight.plugin import hookimpl
from raysight_sam.backend import MODEL_NAMES, SamBackend


@hookimpl
def raysight_backends() -> list[SamBackend]:
    return [SamBackend()]


@hookimpl
def raysight_model_names() -> dict[str, str]:
    return {name: SamBackend.name for name in MODEL_NAMES}
