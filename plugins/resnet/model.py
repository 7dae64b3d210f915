"""Building ResNets and the weights format shared by training and serving.

Weights file (``.pth``, written by training, read by raysight_resnet.predict.load)::

    torch.save({"arch": "resnet18", "classes": ["cat", "dog"], "state_dict": net.state_dict(),
                "imgsz": 224}, path)

`state_dict` is the plain torchvision model's (no DDP ``module.`` prefix) with `fc` sized to the
classes. A channel-pruned model (raysight_resnet.prune) adds ``"channels": {module name: [out, in]}`` for
every Conv2d / Linear ([features] for BatchNorm2d): the structure is rebuilt from these integers
(`with_channels`), never unpickled. Training checkpoints add "optimizer", "epoch", "best_accuracy" to the same dict.
Pretrained files in the weights folder (resnet18.pth...) may be either this dict or a bare
torchvision state_dict (ImageNet head, which is left out).

Every file is read with ``weights_only=True`` (raysight.weights_io): nothing in it is ever run, and a
pickled module (``torch.save(net)``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from raysight.errors import InvalidWeights
from raysight.weights_io import load_tensors, meta_shapes, mismatches, require_fit, tensor_dict

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


@dataclass
class ResnetWeights:
    """A ResNet weights file, read safely and checked against its architecture."""

    arch: str
    state_dict: dict[str, Any]
    classes: list[str] = field(default_factory=list)
    imgsz: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # the file's dict without state_dict (empty if bare)

    channels: dict[str, list[int]] | None = None  # a pruned model's kept channel counts

    @property
    def num_classes(self) -> int:
        return int(self.state_dict["fc.weight"].shape[0])

    def build(self) -> Any:
        """The network these weights load into (pruned if they are), with fresh values."""
        net = build_resnet(self.arch, self.num_classes)
        return with_channels(net, self.channels) if self.channels else net


def channel_counts(net: Any) -> dict[str, list[int]]:
    """{module name: [out, in]} of every Conv2d / Linear and [features] of every BatchNorm2d."""
    import torch

    counts: dict[str, list[int]] = {}
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            counts[name] = [int(module.out_channels), int(module.in_channels)]
        elif isinstance(module, torch.nn.Linear):
            counts[name] = [int(module.out_features), int(module.in_features)]
        elif isinstance(module, torch.nn.BatchNorm2d):
            counts[name] = [int(module.num_features)]
    return counts


def _checked_channels(net: Any, channels: Any) -> dict[str, list[int]]:
    """`channels` must name exactly the net's conv / bn / linear modules, each with positive counts no
    larger than the unpruned architecture's (pruning only removes channels)."""
    full = channel_counts(net)
    if not isinstance(channels, dict) or set(channels) != set(full):
        raise InvalidWeights("the pruned structure ('channels') does not name the architecture's layers")
    for name, counts in channels.items():
        if (not isinstance(counts, (list, tuple)) or len(counts) != len(full[name])
                or not all(isinstance(c, int) and 0 < c <= f for c, f in zip(counts, full[name], strict=True))):
            raise InvalidWeights(f"the pruned structure gives layer '{name}' invalid channel counts")
    return {name: [int(c) for c in counts] for name, counts in channels.items()}


def with_channels(net: Any, channels: Any) -> Any:
    """`net` (a fresh build_resnet) with every conv / bn / linear resized to `channels` (fresh values);
    the head keeps its number of outputs. InvalidWeights if `channels` does not fit the architecture."""
    import torch

    wanted = _checked_channels(net, channels)
    for name, module in list(net.named_modules()):
        if name not in wanted:
            continue
        counts = wanted[name]
        if isinstance(module, torch.nn.Conv2d):
            new: Any = torch.nn.Conv2d(counts[1], counts[0], module.kernel_size, stride=module.stride,
                                       padding=module.padding, dilation=module.dilation, groups=module.groups,
                                       bias=module.bias is not None)
        elif isinstance(module, torch.nn.Linear):
            new = torch.nn.Linear(counts[1], module.out_features, bias=module.bias is not None)
        else:
            new = torch.nn.BatchNorm2d(counts[0], eps=module.eps, momentum=module.momentum)
        parent_name, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent_name) if parent_name else net, attr, new)
    return net


@lru_cache(maxsize=32)
def expected_shapes(arch: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    """{key: shape} of `arch` with a `num_classes` head (built on the meta device)."""
    return meta_shapes(lambda: build_resnet(arch, num_classes))


def _state_of(data: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    meta: dict[str, Any] = dict(data) if isinstance(data, dict) and "state_dict" in data else {}
    state = tensor_dict(meta.pop("state_dict") if meta else data)
    if state is None:
        raise InvalidWeights(f"'{name}' is not a ResNet state dict (nor a dict with one under 'state_dict')")
    return {k.removeprefix("module."): v for k, v in state.items()}, meta


def read_weights(path: str | Path, *, arch: str | None = None) -> ResnetWeights:
    """Read a ResNet file without running anything from it and check every key and shape against the
    architecture: `arch` if given, else the one the file names, else the one its keys fit. Raises
    InvalidWeights naming the mismatches."""
    name = Path(path).name
    state, meta = _state_of(load_tensors(path), name)
    if "fc.weight" not in state:
        raise InvalidWeights(f"'{name}' is not a ResNet state dict (it has no fc.weight)")
    try:
        wanted = arch_of(arch) if arch else (arch_of(str(meta["arch"])) if meta.get("arch") else None)
    except ValueError as exc:
        raise InvalidWeights(str(exc)) from None
    nc = int(state["fc.weight"].shape[0])
    if meta.get("channels") is not None:
        return _read_pruned(name, state, meta, wanted, nc)
    candidates = [wanted] if wanted else list(ARCHS)
    fits = [a for a in candidates if not mismatches(state, expected_shapes(a, nc))]
    if not fits:
        closest = min(candidates, key=lambda a: len(mismatches(state, expected_shapes(a, nc))))
        require_fit(state, expected_shapes(closest, nc), what=f"'{name}' does not fit {closest}")
    classes = [str(c) for c in meta.get("classes") or []]
    if classes and len(classes) != nc:
        raise InvalidWeights(f"'{name}' names {len(classes)} classes but its head has {nc} outputs")
    imgsz = meta.get("imgsz")
    return ResnetWeights(arch=fits[0], state_dict=state, classes=classes,
                         imgsz=int(imgsz) if isinstance(imgsz, int) and imgsz > 0 else None, meta=meta)


def _read_pruned(name: str, state: dict[str, Any], meta: dict[str, Any], wanted: str | None,
                 nc: int) -> ResnetWeights:
    """A pruned file: its arch must be named, and its tensors must fit the structure its channel counts
    describe (built here from those integers)."""
    arch = wanted or (arch_of(str(meta["arch"])) if meta.get("arch") else None)
    if arch is None:
        raise InvalidWeights(f"'{name}' is a pruned ResNet without its architecture")
    channels = meta["channels"]
    require_fit(state, meta_shapes(lambda: with_channels(build_resnet(arch, nc), channels)),
                what=f"'{name}' does not fit its pruned {arch} structure")
    classes = [str(c) for c in meta.get("classes") or []]
    if classes and len(classes) != nc:
        raise InvalidWeights(f"'{name}' names {len(classes)} classes but its head has {nc} outputs")
    imgsz = meta.get("imgsz")
    return ResnetWeights(arch=arch, state_dict=state, classes=classes,
                         imgsz=int(imgsz) if isinstance(imgsz, int) and imgsz > 0 else None, meta=meta,
                         channels=_checked_channels(build_resnet(arch, nc), channels))


def start_channels(path: str | Path) -> dict[str, list[int]] | None:
    """The pruned structure of a start weights file (None for an unpruned one)."""
    _state, meta = _state_of(load_tensors(path), Path(path).name)
    return meta.get("channels") or None


def load_start_weights(net: Any, path: str | Path) -> dict[str, Any]:
    """Load pretrained or fine-tuning weights into `net` (read with weights_only=True), skipping tensors
    whose shape differs (the head when the classes differ). Returns the file's dict without its
    state_dict (empty for a bare state_dict)."""
    state, meta = _state_of(load_tensors(path), Path(path).name)
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not usable:
        raise InvalidWeights(f"no tensor of '{Path(path).name}' fits this ResNet")
    net.load_state_dict(usable, strict=False)
    return meta


def save_weights(path: Path, *, arch: str, classes: list[str], state_dict: dict[str, Any], imgsz: int,
                 **extra: Any) -> None:
    import torch

    torch.save({"arch": arch_of(arch), "classes": list(classes), "state_dict": state_dict, "imgsz": int(imgsz),
                **extra}, path)
