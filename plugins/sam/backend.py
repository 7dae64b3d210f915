from __future__ import annotations

from typing import Any, ClassVar

from raysight.backend import Backend, Operation, TaskType

MODEL_TYPES = ("vit_h", "vit_l", "vit_b", "vit_t")
MODEL_NAMES = [*MODEL_TYPES, "mobile_sam.pt", "sam_vit_h_4b8939.pth", "sam_vit_l_0b3195.pth", "sam_vit_b_01ec64.pth"]


class SamBackend(Backend):
    name: ClassVar[str] = "sam"
    task: ClassVar[TaskType] = TaskType.SEGMENT
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT})
    dataset_formats: ClassVar[tuple[str, ...]] = ()
    default_params: ClassVar[dict[str, Any]] = {"model_type": "vit_t", "points_per_side": 16}
