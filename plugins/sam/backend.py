"""The SAM backend: promptable and automatic segmentation (segment-anything + MobileSAM).

Models are built-in (``builtin:sam:vit_t`` ...; weights from the workspace weights folder) or
registry records whose params name the ``model_type``. A model whose weights file is absent is not
served: random weights would answer with meaningless masks, so `load` raises WeightsMissing (code
"weights_missing") and the caller decides what answers instead (the imgseg services fall back to the
classical region segmenter). The heavy lifting lives in predict.py, imported lazily so that loading
the plugin stays cheap.
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
    InvalidWeights,
    ModelRef,
    Operation,
    PredictOptions,
    TaskType,
    WeightsInfo,
    WeightsMissing,
)
from raysight_sam.build import CHECKPOINTS, MODEL_TYPES

MODEL_NAMES = [*MODEL_TYPES, *CHECKPOINTS.values()]
BUILTIN_PREFIX = "builtin:sam:"
DEFAULT_TYPE = "vit_t"


def _model_type_of(ref: ModelRef) -> str:
    model_type = str(ref.params.get("model_type") or "")
    if not model_type and ref.weights_path:
        name = Path(ref.weights_path).name
        model_type = next((t for t, f in CHECKPOINTS.items() if f == name or t in name), "")
    return model_type or DEFAULT_TYPE


def checkpoint_of(ref: ModelRef) -> Path | None:
    """The weights file for `ref`: its own weights_path, else the official file name in the
    workspace's weights folder (``ref.weights_dir``)."""
    if ref.weights_path and Path(ref.weights_path).is_file():
        return Path(ref.weights_path)
    weights_dir = ref.weights_dir
    if weights_dir:
        name = ref.weights_path or CHECKPOINTS[_model_type_of(ref)]
        candidate = Path(weights_dir) / Path(name).name
        if candidate.is_file():
            return candidate
    return None


class SamBackend(Backend):
    name: ClassVar[str] = "sam"
    task: ClassVar[TaskType] = TaskType.SEGMENT
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT})
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.SEGMENT_WITH_PROMPTS})
    dataset_formats: ClassVar[tuple[str, ...]] = ()
    default_params: ClassVar[dict[str, Any]] = {"model_type": DEFAULT_TYPE, "points_per_side": 16}

    def builtin_key(self, variant: str | None = None) -> str:
        """``builtin:sam:<model type>``, vit_t (MobileSAM) by default."""
        return f"{BUILTIN_PREFIX}{variant or DEFAULT_TYPE}"

    def builtin_ref(self, key: str) -> ModelRef | None:
        if key == "builtin:sam":
            key = BUILTIN_PREFIX + DEFAULT_TYPE
        if not key.startswith(BUILTIN_PREFIX):
            return None
        model_type = key[len(BUILTIN_PREFIX):]
        if model_type not in MODEL_TYPES:
            return None
        return ModelRef(
            model_id=key, weights_path=CHECKPOINTS[model_type], classes=["mask"],
            params={"model_type": model_type, "task_type": str(self.task), "plugin": self.name},
        )

    def check_weights(self, path: Path, *, arch: str | None = None) -> WeightsInfo:
        """A segment-anything (vit_h / vit_l / vit_b) or MobileSAM (vit_t) state dict, read with
        weights_only=True and checked key for key and shape for shape against the model type."""
        from raysight_sam.build import read_state, type_of_name

        wanted = type_of_name(arch) if arch else None
        if arch and wanted is None:
            raise InvalidWeights(f"unknown SAM model type '{arch}' (one of {', '.join(MODEL_TYPES)})")
        model_type, _ = read_state(Path(path), model_type=wanted)
        return WeightsInfo(family=self.name, arch=model_type, model_name=model_type, classes=["mask"],
                           params={"model_type": model_type},
                           format="MobileSAM state dict" if model_type == "vit_t" else "SAM state dict")

    def weights_names(self) -> dict[str, str]:
        return {file: model_type for model_type, file in CHECKPOINTS.items()}

    def load(self, ref: ModelRef, *, device: str) -> Any:
        from raysight_sam import predict

        model_type = _model_type_of(ref)
        if model_type not in MODEL_TYPES:
            raise Invalid(f"unknown SAM model type '{model_type}'")
        checkpoint = checkpoint_of(ref)
        if checkpoint is None:
            name = Path(ref.weights_path or CHECKPOINTS[model_type]).name
            raise WeightsMissing(
                f"no weights for SAM {model_type}: '{name}' is not in the weights folder "
                f"({ref.weights_dir or 'not set'}); SAM never answers with untrained weights")
        return predict.load(model_type, checkpoint, device=device,
                            cache_size=int(ref.params.get("embedding_cache", 8)))

    def run(self, model: Any, op: str, payload: dict[str, Any]) -> Any:
        from raysight_sam import predict

        return predict.run(model, op, payload)

    def predict(self, model: Any, images: list[np.ndarray], options: PredictOptions) -> list[list[Detection]]:
        """Automatic masks as detections (class "mask"); the native API's view of SAM."""
        from raysight_sam import predict

        out = []
        for image in images:
            predict.check_weights(model)
            res = predict.auto_masks(model, {"image": image, **options.extra})
            dets = []
            for m in res["masks"]:
                x, y, w, h = m["bbox"]
                if m["predicted_iou"] < options.conf:
                    continue
                dets.append(Detection(0, "mask", m["predicted_iou"], x, y, x + w, y + h,
                                      extra={"stability_score": m["stability_score"], "weights": res["weights"],
                                             "segmenter": res["segmenter"]}))
            out.append(dets)
        return out
