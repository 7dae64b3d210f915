"""ORM models, one module per domain. Import them all so metadata is complete."""

from raysight.store.models.annotation import AnnotationItem, AnnotationTask
from raysight.store.models.autosele import AutoseleData, AutoseleNetwork, AutoseleRelease, AutoseleTrain
from raysight.store.models.base import Base
from raysight.store.models.dataset import Dataset, DatasetVersion
from raysight.store.models.model import Model
from raysight.store.models.paddlex import PaddlexRecord
from raysight.store.models.task import Task
from raysight.store.models.training import TrainJob

__all__ = [
    "AnnotationItem",
    "AnnotationTask",
    "Base",
    "Dataset",
    "DatasetVersion",
    "Model",
    "PaddlexRecord",
    "Task",
    "TrainJob",
    "AutoseleData",
    "AutoseleNetwork",
    "AutoseleRelease",
    "AutoseleTrain",
]
