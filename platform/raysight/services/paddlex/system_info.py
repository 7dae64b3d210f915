"""GET /system: the machine (CPUs and GPUs of the Ray cluster, the OS) and each GPU's memory: the
cluster's GPUs as their nodes report them (services.system.list_gpus, nvidia-smi through Ray), or this
process's GPUs through torch when the app runs without Ray; an empty list where there is no GPU."""

from __future__ import annotations

import os
import platform as pyplatform
from typing import Any

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import system

KINDS = ("machine_info", "gpu_memory_size")


def _gpu_memory(ctx: Platform) -> list[dict[str, int | None]]:
    if ctx.cluster is not None:
        mb = 1024 * 1024
        return [{"free": _bytes(g.get("memory_free_mb"), mb), "used": _bytes(g.get("memory_used_mb"), mb),
                 "total": _bytes(g.get("memory_total_mb"), mb)} for g in system.list_gpus(ctx=ctx)]
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        out.append({"free": int(free), "used": int(total - free), "total": int(total)})
    return out


def _bytes(value: object, unit: int) -> int | None:
    return None if value is None else int(float(value) * unit)  # type: ignore[arg-type]


def info(*, ctx: Platform, kind: object) -> dict[str, Any]:
    if kind not in KINDS:
        raise Invalid(f"type must be one of {list(KINDS)}")
    if kind == "gpu_memory_size":
        return {"gpu_mem_infos": _gpu_memory(ctx)}
    resources = system.cluster_resources(ctx=ctx)
    cpus = int(resources.get("CPU", 0)) or os.cpu_count() or 1
    gpus = int(resources.get("GPU", 0))
    source = "the Ray cluster" if resources else "this machine (not running under Ray)"
    return {"info": {"message": f"CPUs and GPUs of {source}", "cpu_num": cpus, "gpu_num": gpus,
                     "sysstr": pyplatform.system(), "platform": pyplatform.platform(),
                     "ray_resources": resources}}
