"""Building torchvision segmentation models and the weights format shared by training and serving.

Weights file (``.pth``, written by training, read by raysight_semseg.predict.load)::

    torch.save({"arch": "lraspp_mobilenet_v3_large", "classes": ["background", "cat"],
                "state_dict": net.state_dict(), "imgsz": 512}, path)

`classes[i]` is the class of pixel value / output channel i. Every file is read with
``weights_only=True`` (raysight.weights_io): nothing in it is ever run; every key and shape is checked
against the architecture before it is loaded. Models are always built with ``weights=None`` and
``weights_backbone=None``: nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from raysight.errors import InvalidWeights
from raysight.weights_io import load_tensors, meta_shapes, mismatches, require_fit, tensor_dict

ARCHS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def arch_of(model_name: str) -> str:
    """lraspp_mobilenet_v3_large / ...pth / ...pt -> the torchvision builder's name."""
    arch = Path(model_name).stem.lower()
    if arch not in ARCHS:
        raise ValueError(f"unknown segmentation architecture '{model_name}' (one of {', '.join(ARCHS)})")
    return arch


def build(arch: str, num_classes: int) -> Any:
    """A torchvision segmentation model with fresh weights and `num_classes` output channels.
    DeepLabV3's auxiliary head is left out (aux_loss=False): serving never uses it."""
    import torchvision.models.segmentation as seg

    builder = getattr(seg, arch_of(arch))
    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": int(num_classes)}
    if arch_of(arch).startswith("deeplabv3"):
        kwargs["aux_loss"] = False
    return builder(**kwargs)


class Logits:
    """Wraps a torchvision segmentation model so that it returns the logits tensor (N, C, H, W), not
    its {"out": ...} dict (what training, serving and the ONNX export all call)."""

    @staticmethod
    def wrap(net: Any) -> Any:
        import torch

        class _Logits(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                return self.inner(x)["out"]

        return _Logits(net)


@dataclass
class SemsegWeights:
    arch: str
    state_dict: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    imgsz: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return int(self.state_dict[_head_key(self.arch)].shape[0])


def _head_key(arch: str) -> str:
    return "classifier.high_classifier.weight" if arch.startswith("lraspp") else "classifier.4.weight"


@lru_cache(maxsize=16)
def expected_shapes(arch: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    return meta_shapes(lambda: build(arch, num_classes))


def read_weights(path: str | Path, *, arch: str | None = None) -> SemsegWeights:
    """Read a weights file without running anything from it and check every key and shape against the
    architecture (`arch`, else the one the file names, else the one its keys fit)."""
    name = Path(path).name
    data = load_tensors(path)
    meta: dict[str, Any] = dict(data) if isinstance(data, dict) and "state_dict" in data else {}
    state = tensor_dict(meta.pop("state_dict") if meta else data)
    if state is None:
        raise InvalidWeights(f"'{name}' is not a segmentation state dict (nor a dict with one under 'state_dict')")
    state = {k.removeprefix("module.").removeprefix("inner."): v for k, v in state.items()}
    try:
        wanted = arch_of(arch) if arch else (arch_of(str(meta["arch"])) if meta.get("arch") else None)
    except ValueError as exc:
        raise InvalidWeights(str(exc)) from None
    candidates = [wanted] if wanted else [a for a in ARCHS if _head_key(a) in state]
    if not candidates:
        raise InvalidWeights(f"'{name}' fits none of {', '.join(ARCHS)} (no classifier head)")
    if _head_key(candidates[0]) not in state:
        raise InvalidWeights(f"'{name}' does not fit {candidates[0]}: it has no {_head_key(candidates[0])}")
    fits = [a for a in candidates
            if _head_key(a) in state and not mismatches(state, expected_shapes(a, int(state[_head_key(a)].shape[0])))]
    if not fits:
        a = candidates[0]
        require_fit(state, expected_shapes(a, int(state[_head_key(a)].shape[0])), what=f"'{name}' does not fit {a}")
    found = fits[0]
    w = SemsegWeights(arch=found, state_dict=state, meta=meta)
    classes = [str(c) for c in meta.get("classes") or []]
    if classes and len(classes) != w.num_classes:
        raise InvalidWeights(f"'{name}' names {len(classes)} classes but its head has {w.num_classes} outputs")
    imgsz = meta.get("imgsz")
    w.classes = classes
    w.imgsz = int(imgsz) if isinstance(imgsz, int) and imgsz > 0 else None
    return w


def load_start_weights(net: Any, path: str | Path) -> None:
    """Pretrained or fine-tuning weights into `net`, skipping tensors whose shape differs (the head when
    the classes differ)."""
    w = read_weights(path)
    own = net.state_dict()
    usable = {k: v for k, v in w.state_dict.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    net.load_state_dict(usable, strict=False)


def save_weights(path: Path, *, arch: str, classes: list[str], state_dict: dict[str, Any], imgsz: int,
                 **extra: Any) -> None:
    import torch

    state = {k.removeprefix("module.").removeprefix("inner."): v for k, v in state_dict.items()}
    torch.save({"arch": arch_of(arch), "classes": list(classes), "state_dict": state, "imgsz": int(imgsz),
                **extra}, path)
