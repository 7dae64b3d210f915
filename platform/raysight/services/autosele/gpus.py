"""The GPUs the cluster sees, with their memory: read through the `gpus` probe the serving layer
registers (services import no ray). Without Ray, or on a CPU-only cluster, the list is empty."""

from __future__ import annotations

from typing import Any

from raysight.context import Platform
from raysight.errors import Unavailable


def list_gpus(*, ctx: Platform) -> list[dict[str, Any]]:
    """[{node, index, name, memory_total_mb, memory_used_mb, memory_free_mb}, ...] for every GPU of
    every live node; memory fields are None where the node cannot report them."""
    probe = ctx.extras.get("probes", {}).get("gpus")
    if probe is None:
        return []
    try:
        return list(probe())
    except Exception as exc:  # the cluster is the source; say it could not be asked
        raise Unavailable(f"the cluster's GPUs could not be listed: {type(exc).__name__}: {exc}") from exc
