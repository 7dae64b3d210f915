"""The integer status values a PaddleX client expects (specs/paddlex-status-codes.md), and the mapping of
project types onto the core's task types."""

from __future__ import annotations

from enum import IntEnum

from raysight.errors import Invalid


class DatasetStatus(IntEnum):
    XEMPTY = 0
    XCHECKING = 1
    XCHECKFAIL = 2
    XCOPYING = 3
    XCOPYDONE = 4
    XCOPYFAIL = 5
    XSPLITED = 6


class TaskStatus(IntEnum):
    XUNINIT = 0
    XINIT = 1
    XDOWNLOADING = 2
    XTRAINING = 3
    XTRAINDONE = 4
    XEVALUATED = 5
    XEXPORTING = 6
    XEXPORTED = 7
    XTRAINEXIT = 8
    XDOWNLOADFAIL = 9
    XTRAINFAIL = 10
    XEVALUATING = 11
    XEVALUATEFAIL = 12
    XEXPORTFAIL = 13
    XPRUNEING = 14
    XPRUNETRAIN = 15


class ProjectType(IntEnum):
    classification = 0
    detection = 1
    segmentation = 2
    instance_segmentation = 3
    remote_segmentation = 4


class DownloadStatus(IntEnum):
    XDDOWNLOADING = 0
    XDDOWNLOADFAIL = 1
    XDDOWNLOADDONE = 2
    XDDECOMPRESSED = 3


class PruneStatus(IntEnum):
    XSPRUNESTART = 0
    XSPRUNEING = 1
    XSPRUNEDONE = 2
    XSPRUNEFAIL = 3
    XSPRUNEEXIT = 4


class PredictStatus(IntEnum):
    """Also the export status."""

    XPRESTART = 0
    XPREDONE = 1
    XPREFAIL = 2


class PretrainedModelStatus(IntEnum):
    XPINIT = 0
    XPSAVING = 1
    XPSAVEFAIL = 2
    XPSAVEDONE = 3


class ExportedModelType(IntEnum):
    XQUANTMOBILE = 0
    XPRUNEMOBILE = 1
    XTRAINMOBILE = 2
    XQUANTSERVER = 3
    XPRUNESERVER = 4
    XTRAINSERVER = 5


# The four project / dataset types the document lists, and the core task type each trains as.
# The segmentation types map onto the task types the segmentation work adds to the core
# (instance_segment: YOLO segmentation; semantic_segment: the torchvision semseg plugin).
CORE_TASK = {
    "classification": "classify",
    "detection": "detect",
    "segmentation": "semantic_segment",
    "instance_segmentation": "instance_segment",
}
PROJECT_TYPES = tuple(CORE_TASK)


def project_type(value: object, what: str = "project_type") -> str:
    """A project / dataset type given as its name or as the ProjectType integer."""
    if isinstance(value, bool):
        raise Invalid(f"{what} must be one of {list(PROJECT_TYPES)}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number < len(PROJECT_TYPES):
            return PROJECT_TYPES[number]
    if isinstance(value, str) and value.strip() in CORE_TASK:
        return value.strip()
    raise Invalid(f"{what} must be one of {list(PROJECT_TYPES)} (or their ProjectType numbers 0-3), "
                  f"got {value!r}")
