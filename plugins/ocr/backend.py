from __future__ import annotations

from typing import Any, ClassVar

from raysight.backend import Backend, Operation, TaskType


class OcrBackend(Backend):
    name: ClassVar[str] = "ocr"
    task: ClassVar[TaskType] = TaskType.OCR
    operations: ClassVar[frozenset[Operation]] = frozenset({Operation.PREDICT})
    dataset_formats: ClassVar[tuple[str, ...]] = ()
    default_params: ClassVar[dict[str, Any]] = {"engine": "rapidocr"}
