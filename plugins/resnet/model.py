"""Building ResNets and the weights format shared by training and serving.

Weights file (``.pth``, written by training, read by raysight_resnet.predict.load)::

    torch.save({"arch": "resnet18", "classes": ["cat", "dog"], "state_dict": net.state_dict(),
                "imgsz": 224}, path)

`state_dict` is the plain torchvision model's (no DDP ``module.`` prefix) with `fc` sized to the
classes. Training checkpoints add "optimizer", "epoch", "best_accuracy" to the same dict.
Pretrained files in the weights folder (resnet18.pth...) may be either this dict or a bare
torchvision state_dict (ImageNet head, which is left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def arch_of(model_name: str) -> str:
    """resnet18 / resnet18.pth / resnet18.pt -> resnet18."""
    arch = Path(model_name).stem.lower()
    if arch not in ARCHS:
        raise ValueError(f"unknown ResNet architecture '{model_name}' (one of {', '.join(ARCHS)})")
    return arch


def build_resnet(arch: str, num_classes: int) -> Any:
    """A torchvision ResNet with fresh weights (never downloads) and a `num_classes` head."""
    import torch
    import torchvision

    net = getattr(torchvision.models, arch_of(arch))(weights=None)
    net.fc = torch.nn.Linear(net.fc.in_features, int(num_classes))
    return net


def load_start_weights(net: Any, path: str | Path) -> dict[str, Any]:
    """Load pretrained or fine-tuning weights into `net`, skipping tensors whose shape differs (the head
    when the classes differ). Returns the file's dict (empty for a bare state_dict)."""
    import torch

    data = torch.load(str(path), map_location="cpu", weights_only=False)
    meta: dict[str, Any] = data if isinstance(data, dict) and "state_dict" in data else {}
    state = meta.get("state_dict", data)
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    own = net.state_dict()
    usable = {k.removeprefix("module."): v for k, v in state.items()}
    usable = {k: v for k, v in usable.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    net.load_state_dict(usable, strict=False)
    return meta


def save_weights(path: Path, *, arch: str, classes: list[str], state_dict: dict[str, Any], imgsz: int,
                 **extra: Any) -> None:
    import torch

    torch.save({"arch": arch_of(arch), "classes": list(classes), "state_dict": state_dict, "imgsz": int(imgsz),
                **extra}, path)
