"""Build SAM models: segment-anything's vit_h / vit_l / vit_b and MobileSAM's vit_t.

vit_t is MobileSAM: the TinyViT image encoder (the module ultralytics ships) in front of
segment-anything's own prompt encoder and mask decoder, so one predictor code path serves every
type and the official ``mobile_sam.pt`` state dict loads key for key.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from raysight.plugin import InvalidWeights, load_tensors, meta_shapes, mismatches, require_fit, tensor_dict

log = logging.getLogger(__name__)

CHECKPOINTS: dict[str, str] = {
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_b": "sam_vit_b_01ec64.pth",
    "vit_t": "mobile_sam.pt",
}
MODEL_TYPES = tuple(CHECKPOINTS)


def _mobile_sam() -> Any:
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    from ultralytics.models.sam.modules.tiny_encoder import TinyViT

    encoder = TinyViT(
        img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0,
        use_checkpoint=False, mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8,
    )
    return Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def build_architecture(model_type: str) -> Any:
    """The model with fresh (random) weights."""
    if model_type not in CHECKPOINTS:
        raise ValueError(f"unknown SAM model type '{model_type}' (one of {', '.join(MODEL_TYPES)})")
    if model_type == "vit_t":
        return _mobile_sam()
    from segment_anything import sam_model_registry

    return sam_model_registry[model_type](checkpoint=None)


@lru_cache(maxsize=8)
def expected_shapes(model_type: str) -> dict[str, tuple[int, ...]]:
    """{key: shape} of a model type's state dict (built on the meta device: no memory, no download)."""
    return meta_shapes(lambda: build_architecture(model_type))


def type_of_name(name: str) -> str | None:
    """vit_b / sam_vit_b_01ec64.pth / mobile_sam.pt -> the model type, else None."""
    base = Path(name).name
    if base in CHECKPOINTS:
        return base
    return next((t for t, f in CHECKPOINTS.items() if f == base), None)


def read_state(checkpoint: Path, *, model_type: str | None = None) -> tuple[str, dict[str, Any]]:
    """(model type, state dict) of a SAM / MobileSAM file, read with weights_only=True and checked key
    for key and shape for shape against `model_type` (or the type it fits). Raises InvalidWeights."""
    name = Path(checkpoint).name
    data = load_tensors(checkpoint)
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    state = tensor_dict(data)
    if state is None:
        raise InvalidWeights(f"'{name}' is not a SAM state dict")
    if model_type is not None and model_type not in CHECKPOINTS:
        raise InvalidWeights(f"unknown SAM model type '{model_type}' (one of {', '.join(MODEL_TYPES)})")
    candidates = [model_type] if model_type else list(MODEL_TYPES)
    fits = [t for t in candidates if not mismatches(state, expected_shapes(t))]
    if not fits:
        closest = min(candidates, key=lambda t: len(mismatches(state, expected_shapes(t))))
        require_fit(state, expected_shapes(closest), what=f"'{name}' does not fit SAM {closest}")
    return fits[0], state


def load_state(model: Any, checkpoint: Path, model_type: str | None = None) -> None:
    _, state = read_state(checkpoint, model_type=model_type)
    model.load_state_dict(state)


def build(model_type: str, checkpoint: Path | None) -> tuple[Any, bool]:
    """(model in eval mode, whether trained weights were loaded)."""
    torch.manual_seed(0)  # fresh weights are at least reproducible
    model = build_architecture(model_type)
    trained = False
    if checkpoint is not None and Path(checkpoint).is_file():
        load_state(model, Path(checkpoint), model_type)
        trained = True
    else:
        log.warning("SAM %s: no checkpoint found (%s); serving fresh, untrained weights", model_type, checkpoint)
    model.eval()
    return model, trained
