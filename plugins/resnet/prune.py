"""Channel pruning of ResNet classifiers with torch-pruning (magnitude importance, L1 norm of filters).

A layer group is one of the four stages (layer1..layer4). Pruning a group at ratio r removes r of the
prunable channels of the convolutions rooted in that stage; torch-pruning's dependency graph removes
the coupled channels everywhere else (residual sums, the stem, the next stage's inputs, the head's input),
so the result is a smaller dense network. Nothing is fine-tuned here: the sensitivity analysis measures
the raw top-1 loss per group and ratio, and `prune` writes the pruned weights with their kept channel
counts (raysight_resnet.model: rebuilt from integers, never unpickled), which a training job then
fine-tunes.
"""

from __future__ import annotations

import copy
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

GROUPS = ["layer1", "layer2", "layer3", "layer4"]


def check_groups(groups: list[str] | None) -> list[str]:
    return prune_groups_of(groups, GROUPS, "ResNet")


def pruned_copy(net: Any, ratio: float, groups: list[str], imgsz: int) -> Any:
    """A copy of `net` with `ratio` of the channels of each group in `groups` removed (L1 magnitude)."""
    import torch
    import torch_pruning as tp

    copied = copy.deepcopy(net).cpu().eval()
    ratios = {getattr(copied, g): float(ratio) for g in groups}
    pruner = tp.pruner.MagnitudePruner(copied, torch.zeros(1, 3, imgsz, imgsz),
                                       importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=0.0,
                                       pruning_ratio_dict=ratios, ignored_layers=[copied.fc])
    pruner.step()
    return copied.eval()


def sensitivity(ref: ModelRef, *, data: EvalData, ratios: list[float], groups: list[str] | None = None,
                options: EvalOptions | None = None, progress: Progress | None = None) -> Sensitivity:
    """Top-1 lost on `data` per group per ratio (each group pruned alone, no fine-tuning)."""
    from raysight_resnet.evaluate import classification_report, run_scores, split_items, torch_scores
    from raysight_resnet.predict import load

    options = options or EvalOptions()
    chosen = check_groups(groups)
    items = split_items(data)
    if not items:
        raise Invalid(f"the '{data.split}' split of {data.dataset_id} {data.version} has no images")
    loaded = load(ref, device="cpu")
    if sorted(loaded.classes) != sorted(data.classes) or len(loaded.classes) != len(data.classes):
        raise Invalid("the model's classes are not the dataset's classes")
    order = [loaded.classes.index(c) for c in data.classes]
    imgsz = int(options.imgsz or loaded.imgsz)

    def top1(net: Any) -> float:
        truth, logits = run_scores(torch_scores(net), items, imgsz, options.batch)
        return float(classification_report(truth, logits[:, order], list(data.classes), 1)["metrics"]["top1"])

    return sweep_sensitivity(metric="top1", groups=chosen, ratios=ratios, n_images=len(items),
                             baseline=top1(loaded.net), measure=top1,
                             pruned=lambda ratio, group: pruned_copy(loaded.net, ratio, [group], imgsz),
                             progress=progress)


def prune(ref: ModelRef, *, ratio: float, output: Path, groups: list[str] | None = None) -> PruneResult:
    """Write `output` (.pth): the model with `ratio` of the channels of `groups` (default: all four
    stages) removed, in the raysight ResNet format plus its kept channel counts."""
    from raysight_resnet.model import channel_counts, read_weights, save_weights
    from raysight_resnet.predict import load

    chosen = check_groups(groups)
    ratio = prune_ratio(ratio)
    arch = read_weights(str(ref.weights_path)).arch
    loaded = load(ref, device="cpu")
    net = pruned_copy(loaded.net, ratio, chosen, loaded.imgsz)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_weights(output, arch=arch, classes=loaded.classes, state_dict=net.state_dict(),
                 imgsz=loaded.imgsz, channels=channel_counts(net), pruned={"ratio": ratio, "groups": chosen})
    return PruneResult(path=str(output), ratio=ratio, groups=chosen, params_before=count_params(loaded.net),
                       params_after=count_params(net), size_before=Path(str(ref.weights_path)).stat().st_size,
                       size_after=output.stat().st_size)
