"""GET /system: the machine (CPUs and GPUs of the Ray cluster, the OS) and each local GPU's memory (torch;
an empty list where there is no GPU)."""

from __future__ import annotations

import os
import platform as pyplatform
from typing import Any

from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import system

KINDS = ("machine_info", "gpu_memory_size")


def _gpu_memory() -> list[dict[str, int]]:
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        out.append({"free": int(free), "used": int(total - free), "total": int(total)})
    return out


def info(*, ctx: Platform, kind: object) -> dict[str, Any]:
    if kind not in KINDS:
        raise Invalid(f"type must be one of {list(KINDS)}")
    if kind == "gpu_memory_size":
        return {"gpu_mem_infos": _gpu_memory()}
    resources = system.cluster_resources(ctx=ctx)
    cpus = int(resources.get("CPU", 0)) or os.cpu_count() or 1
    gpus = int(resources.get("GPU", 0))
    source = "the Ray cluster" if resources else "this machine (not running under Ray)"
    return {"info": {"message": f"CPUs and GPUs of {source}", "cpu_num": cpus, "gpu_num": gpus,
                     "sysstr": pyplatform.system(), "platform": pyplatform.platform(),
                     "ray_resources": resources}}
