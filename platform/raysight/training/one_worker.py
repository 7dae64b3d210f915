"""The backend config of a one-worker run, free of torch where Ray Train's controller unpickles it.

A run of one worker needs no torch process group: nothing to all-reduce with, and its worker process ends
with the run. Skipping it saves the round trips TorchConfig's set-up and shutdown make to the worker
(address, port, environment, init_process_group). Train loops check ``world_size > 1`` before any
collective call; prepare_model / prepare_data_loader do too.

The controller holds a run's backend config, and TorchConfig's module imports torch: the controller
process would import torch (~1.5 s of CPU while the run starts, ~500 MB resident for the whole run) only
to unpickle it. This module imports neither torch nor ray.train.torch; the worker imports them when it
enters `CudaDevice`, as TorchConfig's context does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray.train.backend import Backend, BackendConfig
from ray.train.v2._internal.util import TrainingFramework


class CudaDevice:
    """Around the train loop in the worker: TorchConfig's context (the default CUDA device is the worker's)."""

    def __enter__(self) -> None:
        from ray.train.torch.config import TorchConfigContextManager

        self._context = TorchConfigContextManager()
        self._context.__enter__()

    def __exit__(self, *exc: Any) -> bool:
        return bool(self._context.__exit__(*exc))


@dataclass
class OneWorkerTorchConfig(BackendConfig):
    """TorchConfig for `num_workers == 1`: its device context, no process group. `backend` is the field
    TorchTrainer fills in (gloo / nccl); nothing here uses it."""

    backend: str | None = None

    @property
    def backend_cls(self) -> type[Backend]:
        return Backend

    @property
    def train_func_context(self) -> type[CudaDevice]:
        return CudaDevice

    @property
    def framework(self) -> TrainingFramework:
        return TrainingFramework.TORCH
