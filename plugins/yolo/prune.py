"""Channel pruning of ultralytics YOLO detectors with torch-pruning (magnitude importance, L1 norm of filters).

Layer groups are the parts of the model's own config: ``backbone`` (the config's backbone layers: the Conv
downsamplings, C2f / C3k2 stages and SPPF), ``neck`` (the upsampling / Concat / C2f layers between the
backbone and the head) and ``head`` (the hidden convolutions of the Detect head's box and class branches).
Pruning a group at ratio r removes r of the output channels of every convolution rooted in it; torch-pruning's
dependency graph removes the coupled channels everywhere else (the next layers' inputs, the Concat of skip
connections, the residual sums of bottlenecks, SPPF's pooled concatenation).

What ultralytics' modules need:
- C2f (and C3k2, its subclass) splits ``cv1``'s output with ``chunk(2)``, which torch-pruning cannot follow.
  While pruning, ``cv1`` is held as its two halves (two convolutions, the same weights) and the block runs
  them separately; both halves lie in the same layer, so they get the same ratio of the same channel count
  and keep equal widths; afterwards they are merged back into one ``cv1`` and ``c`` (the half width, which
  ``forward_split`` and the ONNX export read) is updated. The result holds ultralytics' classes only.
- The Detect head keeps its outputs: the last convolution of each box / class branch (and the DFL) are never
  pruned, only their inputs. Attention blocks (C2PSA / PSA... of YOLO11) are left whole.

Nothing is fine-tuned here: the sensitivity analysis measures the raw mAP50-95 loss per group and ratio, and
`prune` writes the pruned model the ultralytics way (raysight_yolo.pruned_model), which a training job then
fine-tunes keeping its structure.
"""

from __future__ import annotations

import copy
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from raysight.plugin import (
    EvalData,
    EvalOptions,
    Invalid,
    ModelRef,
    Progress,
    PruneResult,
    Sensitivity,
    count_params,
    prune_groups_of,
    prune_ratio,
    sweep_sensitivity,
)

GROUPS = ["backbone", "neck", "head"]
ATTENTION = frozenset({"C2PSA", "PSA", "C2fPSA", "C2fAttn", "A2C2f", "AAttn", "Attention", "PSABlock"})
TRACE_SIZE = 64  # the example input torch-pruning traces (a multiple of the largest stride)


def check_groups(groups: list[str] | None) -> list[str]:
    return prune_groups_of(groups, GROUPS, "YOLO")


def _parts(net: Any) -> dict[str, list[Any]]:
    """The modules of each layer group of a DetectionModel (from its config's backbone length)."""
    layers = list(net.model)
    n_backbone = len(net.yaml.get("backbone") or [])
    return {"backbone": layers[:n_backbone], "neck": layers[n_backbone:-1], "head": [layers[-1]]}


def _kept_outputs(net: Any) -> list[Any]:
    """Modules whose output channels must stay: the head's final convolutions, the DFL, attention blocks."""
    from ultralytics.nn.modules import Detect

    kept: list[Any] = []
    for module in net.modules():
        if isinstance(module, Detect):
            for name in ("cv2", "cv3", "one2one_cv2", "one2one_cv3", "cv4"):
                branches = getattr(module, name, None)
                kept += [branch[-1] for branch in branches or []]
            kept.append(module.dfl)
        elif type(module).__name__ in ATTENTION:
            kept.append(module)
    return kept


def _slice_conv(conv: Any, part: slice) -> Any:
    """A copy of an ultralytics Conv (conv + bn + act) keeping output channels `part`."""
    import torch

    out = copy.deepcopy(conv)
    out.conv.weight = torch.nn.Parameter(conv.conv.weight.data[part].clone())
    out.conv.out_channels = int(out.conv.weight.shape[0])
    bn = out.bn
    bn.weight = torch.nn.Parameter(conv.bn.weight.data[part].clone())
    bn.bias = torch.nn.Parameter(conv.bn.bias.data[part].clone())
    bn.running_mean = conv.bn.running_mean[part].clone()
    bn.running_var = conv.bn.running_var[part].clone()
    bn.num_features = out.conv.out_channels
    return out


def _halves_forward(self: Any, x: Any) -> Any:
    """C2f.forward with cv1 as two convolutions instead of one split by chunk(2)."""
    import torch

    y = [self.cv1.a(x), self.cv1.b(x)]
    y.extend(m(y[-1]) for m in self.m)
    return self.cv2(torch.cat(y, 1))


def _split_c2f(block: Any) -> None:
    import torch

    class Halves(torch.nn.Module):  # cv1 while the block is pruned
        def __init__(self, a: Any, b: Any) -> None:
            super().__init__()
            self.a, self.b = a, b

    c = block.cv1.conv.out_channels // 2
    block.cv1 = Halves(_slice_conv(block.cv1, slice(0, c)), _slice_conv(block.cv1, slice(c, 2 * c)))
    block.forward = types.MethodType(_halves_forward, block)


def _merge_c2f(block: Any) -> None:
    import torch

    a, b = block.cv1.a, block.cv1.b
    if a.conv.out_channels != b.conv.out_channels:
        raise Invalid("pruning left a C2f block with unequal halves; try another ratio")
    merged = copy.deepcopy(a)
    merged.conv.weight = torch.nn.Parameter(torch.cat([a.conv.weight.data, b.conv.weight.data]))
    merged.conv.out_channels = int(merged.conv.weight.shape[0])
    for name in ("weight", "bias"):
        setattr(merged.bn, name, torch.nn.Parameter(torch.cat([getattr(a.bn, name).data, getattr(b.bn, name).data])))
    merged.bn.running_mean = torch.cat([a.bn.running_mean, b.bn.running_mean])
    merged.bn.running_var = torch.cat([a.bn.running_var, b.bn.running_var])
    merged.bn.num_features = merged.conv.out_channels
    block.cv1 = merged
    block.c = a.conv.out_channels
    del block.forward  # back to the class's own forward (nothing of this module is pickled with the model)


def pruned_copy(net: Any, ratio: float, groups: list[str]) -> Any:
    """A copy of the DetectionModel `net` with `ratio` of the channels of each group in `groups` removed."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tracing a 64 px input: threads only contend (13 s instead of 1 s on a busy host)
    try:
        return _pruned(copy.deepcopy(net).cpu().float().eval(), ratio, groups)
    finally:
        torch.set_num_threads(threads)


def _pruned(copied: Any, ratio: float, groups: list[str]) -> Any:
    import torch
    import torch_pruning as tp
    from ultralytics.nn.modules import C2f

    for p in copied.parameters():
        p.requires_grad_(True)  # torch-pruning traces the autograd graph
    kept = _kept_outputs(copied)
    inside_kept = {id(m) for k in kept for m in k.modules()}
    blocks = [m for m in copied.modules() if isinstance(m, C2f) and id(m) not in inside_kept]
    for block in blocks:
        _split_c2f(block)
    parts = _parts(copied)
    ratios = {layer: float(ratio) for g in groups for layer in parts[g]}
    channels = int(copied.yaml.get("channels", 3))
    pruner = tp.pruner.MagnitudePruner(copied, torch.zeros(1, channels, TRACE_SIZE, TRACE_SIZE),
                                       importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=0.0,
                                       pruning_ratio_dict=ratios, ignored_layers=kept)
    pruner.step()
    for block in blocks:
        _merge_c2f(block)
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied.eval()


def sensitivity(ref: ModelRef, *, data: EvalData, ratios: list[float], groups: list[str] | None = None,
                options: EvalOptions | None = None, progress: Progress | None = None) -> Sensitivity:
    """mAP50-95 lost on `data` per group per ratio (each group pruned alone, no fine-tuning)."""
    from raysight_yolo.evaluate import split_images, validate
    from raysight_yolo.safe_load import open_model

    options = options or EvalOptions()
    chosen = check_groups(groups)
    n_images = split_images(data)
    if n_images == 0:
        raise Invalid(f"the '{data.split}' split of {data.dataset_id} {data.version} has no images")
    model = open_model(str(ref.weights_path))
    if len(model.names or {}) != len(data.classes):
        raise Invalid(f"the model has {len(model.names or {})} classes but the dataset has {len(data.classes)}")
    original = copy.deepcopy(model.model)  # validation fuses the model it runs
    imgsz = int(options.imgsz or ref.params.get("imgsz") or (model.overrides or {}).get("imgsz") or 640)

    def map50_95(net: Any) -> float:
        model.model = net
        return float(validate(model, data=data, options=options, imgsz=imgsz, plots=False).box.map)

    return sweep_sensitivity(metric="mAP50-95", groups=chosen, ratios=ratios, n_images=n_images,
                             baseline=map50_95(copy.deepcopy(original)), measure=map50_95,
                             pruned=lambda ratio, group: pruned_copy(original, ratio, [group]), progress=progress)


def prune(ref: ModelRef, *, ratio: float, output: Path, groups: list[str] | None = None) -> PruneResult:
    """Write `output` with suffix .pt: the model with `ratio` of the channels of `groups` (default: all)
    removed, as an ultralytics checkpoint (the pruned DetectionModel object, half precision like
    ultralytics' own best.pt) that raysight_yolo.safe_load reads."""
    import torch

    from raysight_yolo.safe_load import load_checkpoint

    chosen = check_groups(groups)
    ratio = prune_ratio(ratio)
    source = Path(str(ref.weights_path))
    ckpt = load_checkpoint(source)
    model = ckpt.get("ema") or ckpt.get("model")
    net = pruned_copy(model, ratio, chosen)
    out = Path(output).with_suffix(".pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    keep = {k: ckpt[k] for k in ("version", "license", "docs", "train_args") if k in ckpt}
    torch.save({**keep, "date": datetime.now(UTC).isoformat(), "epoch": -1, "best_fitness": None,
                "model": net.half(), "ema": None, "updates": None, "optimizer": None,
                "raysight_pruned": {"from": source.name, "ratio": ratio, "groups": chosen}}, out)
    return PruneResult(path=str(out), ratio=ratio, groups=chosen, params_before=count_params(model),
                       params_after=count_params(net), size_before=source.stat().st_size,
                       size_after=out.stat().st_size)
