"""The pruning helpers a Prunable family shares (raysight.plugin): group and ratio checks and the
sensitivity sweep (each group alone at each ratio, metric lost against the baseline, parameters left)."""

from __future__ import annotations

import pytest
import torch

from raysight.plugin import Invalid, count_params, prune_groups_of, prune_ratio, sweep_sensitivity

GROUPS = ["a", "b"]


def test_groups_default_to_all_and_unknown_ones_are_named() -> None:
    assert prune_groups_of(None, GROUPS, "Toy") == GROUPS
    assert prune_groups_of(["b"], GROUPS, "Toy") == ["b"]
    with pytest.raises(Invalid, match=r"unknown layer group\(s\) \['c'\]; Toy groups are a, b"):
        prune_groups_of(["b", "c"], GROUPS, "Toy")


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, True, "0.3", None])
def test_a_ratio_lies_strictly_between_0_and_1(bad: object) -> None:
    with pytest.raises(Invalid):
        prune_ratio(bad)  # type: ignore[arg-type]
    assert prune_ratio(0.25) == 0.25


def test_the_sweep_prunes_each_group_alone_at_each_ratio() -> None:
    calls: list[tuple[float, str]] = []
    seen: list[float] = []

    def pruned(ratio: float, group: str) -> torch.nn.Module:
        calls.append((ratio, group))
        kept = round(10 * (1 - ratio)) if group == "a" else 10
        return torch.nn.Linear(4, kept)

    def measure(net: torch.nn.Module) -> float:
        return net.out_features / 10  # the toy metric: the share of outputs kept

    table = sweep_sensitivity(metric="toy", groups=GROUPS, ratios=[0.5, 0.2, 0.5], n_images=3, baseline=1.0,
                              pruned=pruned, measure=measure, progress=seen.append)
    assert calls == [(0.2, "a"), (0.5, "a"), (0.2, "b"), (0.5, "b")]
    assert table.ratios == [0.2, 0.5] and table.groups == GROUPS and table.n_images == 3
    assert table.loss == {"a": {"0.2": 0.2, "0.5": 0.5}, "b": {"0.2": 0.0, "0.5": 0.0}}
    assert table.params["a"]["0.5"] == count_params(torch.nn.Linear(4, 5)) == 25
    assert seen == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(Invalid):
        sweep_sensitivity(metric="toy", groups=GROUPS, ratios=[], n_images=1, baseline=1.0, pruned=pruned,
                          measure=measure)
