"""The public plugin API: everything a model-family plugin imports from raysight, and nothing else.

A plugin (a package registered under the entry-point group ``raysight.plugins``, see docs/plugins.md)
imports only this module from raysight::

    from raysight import plugin
    from raysight.plugin import Backend, Capability, hookimpl, ...

- the contract: `Backend` (the base class), its types (`ModelRef`, `PredictOptions`, `Detection`,
  `WeightsInfo`, `TaskType`, `Operation`), `Capability` and the `RunOp` names of the capabilities
  served through ``Backend.run``, and `hookimpl` for the two hooks (raysight.hookspecs);
- errors a backend raises (`Invalid`, `InvalidWeights`, `NotFound`, `Unavailable`, `WeightsMissing`)
  and `rle` (masks on the wire);
- weights checks without running anything from a file (`load_tensors`, `tensor_dict`, `meta_shapes`,
  `mismatches`, `require_fit`);
- model operations (raysight.model_ops): `EvalData`, `EvalOptions`, `EvalReport`, `ClassMetrics`,
  `ExportFormat`, `ExportResult`, `Progress`, and the optional `Prunable` protocol with `Sensitivity` and
  `PruneResult`;
- export: `quantize_int8` (an exported ONNX model to int8 with onnxruntime, static or dynamic);
- training: `TrainSession` (the job's TrainContext, logs, epoch reports, checkpoints, worker and device
  information, data-parallel helpers) and `TrainResult`, what the train loop returns on the chief worker.

Anything else in raysight is internal and may change without notice.
"""

from __future__ import annotations

from raysight import rle
from raysight.backend import (
    Backend,
    Detection,
    ModelRef,
    Operation,
    PredictOptions,
    TaskType,
    TrainContext,
    WeightsInfo,
)
from raysight.capabilities import Capability, RunOp
from raysight.errors import Invalid, InvalidWeights, NotFound, RaysightError, Unavailable, WeightsMissing
from raysight.hookspecs import hookimpl
from raysight.model_ops import (
    ClassMetrics,
    EvalData,
    EvalOptions,
    EvalReport,
    ExportFormat,
    ExportResult,
    Prunable,
    PruneResult,
    Sensitivity,
    count_params,
    prune_groups_of,
    prune_ratio,
    sweep_sensitivity,
)
from raysight.model_ops import Progress as Progress
from raysight.onnx_int8 import quantize_int8
from raysight.train_result import TrainResult
from raysight.training.worker import TrainSession
from raysight.weights_io import load_tensors, meta_shapes, mismatches, require_fit, tensor_dict

__all__ = [
    "Backend", "Capability", "ClassMetrics", "Detection", "EvalData", "EvalOptions", "EvalReport",
    "ExportFormat", "ExportResult", "Invalid", "InvalidWeights", "ModelRef", "NotFound", "Operation",
    "PredictOptions", "Progress", "Prunable", "PruneResult", "RaysightError", "RunOp", "Sensitivity",
    "TaskType", "TrainContext", "TrainResult", "TrainSession", "Unavailable", "WeightsInfo", "WeightsMissing",
    "count_params", "hookimpl", "load_tensors", "meta_shapes", "mismatches", "prune_groups_of", "prune_ratio",
    "quantize_int8", "require_fit", "rle", "sweep_sensitivity", "tensor_dict",
]
