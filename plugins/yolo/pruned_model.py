"""Channel-pruned ultralytics detection models: recognising one, checking one, and training one as it is.

A pruned YOLO is saved the ultralytics way (the DetectionModel object in a checkpoint dict), so the file
holds only the module classes an ordinary checkpoint holds and loads through raysight_yolo.safe_load's two
gates; only its tensors are narrower than its ``yaml`` config describes. Two consequences handled here:

- `check_pruned`: weights.check accepts such a file when every key of the config's model is there, no
  tensor is larger than the config's, and the model runs a forward pass (so its channels agree).
- `structure_keeping_trainer`: ultralytics' trainer rebuilds the model from its yaml and copies the
  tensors whose shapes match, which would silently un-prune it; this trainer trains the pruned model
  object itself (first start and resume alike).
"""

from __future__ import annotations

from typing import Any

from raysight.plugin import InvalidWeights, meta_shapes

Shapes = dict[str, tuple[int, ...]]

PROBE_SIZE = 64  # a forward pass at a multiple of the largest stride (32)


def config_shapes(model: Any) -> Shapes:
    """{key: shape} of the model its own yaml config builds (on the meta device)."""
    import copy

    cfg = copy.deepcopy(model.yaml)
    nc = int(getattr(model, "nc", 0) or cfg.get("nc") or 1)
    return meta_shapes(lambda: type(model)(cfg=cfg, ch=int(cfg.get("channels", 3)), nc=nc, verbose=False))


def is_pruned(model: Any, expected: Shapes | None = None) -> bool:
    """True when `model` (a DetectionModel) has the keys of its config but narrower tensors (`expected`:
    the config's shapes where the caller has them already)."""
    if not isinstance(getattr(model, "yaml", None), dict):
        return False
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = config_shapes(model) if expected is None else expected
    return state.keys() == expected.keys() and state != expected and all(
        len(state[k]) == len(expected[k]) and all(a <= b for a, b in zip(state[k], expected[k], strict=True))
        for k in state)


def check_pruned(model: Any, name: str, expected: Shapes | None = None) -> None:
    """InvalidWeights unless `model` is a consistent channel-pruned copy of its config's architecture."""
    import copy

    import torch

    if not is_pruned(model, expected):
        raise InvalidWeights(f"'{name}' does not fit its config (and is not a channel-pruned copy of it)")
    probe = copy.deepcopy(model).float().eval()
    try:
        with torch.inference_mode():
            probe(torch.zeros(1, int(model.yaml.get("channels", 3)), PROBE_SIZE, PROBE_SIZE))
    except Exception:
        raise InvalidWeights(f"'{name}': its pruned layers do not fit together (a forward pass fails)") from None


def structure_keeping_trainer(base: type) -> type:
    """A subclass of ultralytics' trainer `base` whose get_model returns a pruned start model itself
    (made trainable) instead of a model rebuilt from the yaml config."""

    class StructureKeepingTrainer(base):  # type: ignore[misc, valid-type]
        def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> Any:
            import torch

            if isinstance(weights, torch.nn.Module) and is_pruned(weights):
                nc = int(self.data["nc"])
                if int(getattr(weights, "nc", nc)) != nc:
                    raise ValueError(f"a pruned model keeps its {weights.nc} classes: it cannot be fine-tuned on a "
                                     f"dataset of {nc}")
                model = weights.float()
                for p in model.parameters():
                    p.requires_grad_(True)
                return model
            return super().get_model(cfg=cfg, weights=weights, verbose=verbose)

    return StructureKeepingTrainer
