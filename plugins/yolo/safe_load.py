"""Loading ultralytics checkpoints without unpickling arbitrary objects.

An ultralytics ``.pt`` pickles the model's classes, so a plain ``torch.load`` cannot read it with
``weights_only=True``, and ultralytics by default unpickles with ``weights_only=False`` (any code).
Two gates, both before anything in the file is run:

1. Our allow-list (`check_globals`): every class or function the pickle names must be one torch's
   ``weights_only`` loader allows by default (tensors, storages, containers, numbers), a module class of
   ``torch.nn.modules.*`` or ``ultralytics.nn.modules.*`` (not ``TorchVision``, whose constructor
   fetches weights), ``ultralytics.nn.tasks.DetectionModel``, ``ultralytics.nn.tasks.SegmentationModel``
   (a DetectionModel with a mask head: same modules, same building) where a segmentation checkpoint is
   expected, or a numpy scalar/dtype. Anything else (``builtins.open``, ``os.system``, a
   ``SegmentationModel`` where a detection checkpoint is expected...) is refused naming it.
2. ultralytics' own restricted loader (``torch.load(weights_only=True)`` against its registry of
   ultralytics/torch module classes, and model building without ``eval``), which `enforce` turns on for
   the whole process, so every load ultralytics does by itself (``YOLO(path)``, resume) goes through it.
   Files ultralytics wrote itself during a run (``strip_optimizer``) are the only ones it reads otherwise.
   ultralytics registers the classes it allowed with ``torch.serialization.add_safe_globals`` for the
   life of the process (module classes only: rebuilding them runs no code from the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.errors import InvalidWeights

MODULE_PREFIXES = ("torch.nn.modules.", "ultralytics.nn.modules.")
# IterableSimpleNamespace: the train_args of a checkpoint written mid-run (last.pt, what a resume reads);
# rebuilding it sets attributes and runs nothing
ALLOWED = frozenset({"ultralytics.nn.tasks.DetectionModel", "ultralytics.utils.IterableSimpleNamespace",
                     "numpy.dtype", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
                     "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray"})
DENIED = frozenset({"ultralytics.nn.modules.block.TorchVision"})
# the model class each task's checkpoints hold (what open_model / load_checkpoint accept for it)
TASK_MODELS = {"detect": "ultralytics.nn.tasks.DetectionModel", "segment": "ultralytics.nn.tasks.SegmentationModel"}


def enforce() -> None:
    """Make every ultralytics checkpoint load in this process a restricted ``weights_only`` load."""
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils as utils

    if not hasattr(tasks, "_SafeLoad") or not tasks._SafeLoad.SUPPORTED:
        raise RuntimeError("this ultralytics/torch cannot load checkpoints with weights_only=True")
    tasks.SAFE_LOAD = True  # torch_safe_load's default and _SafeLoad.restricted() read this at call time
    utils.SAFE_LOAD = True


def _allowed(name: str, task: str = "detect") -> bool:
    if name in DENIED:
        return False
    if name == TASK_MODELS.get(task):
        return True
    if name in ALLOWED or name.startswith("numpy.dtypes."):
        return True
    return name.startswith(MODULE_PREFIXES) and name.rpartition(".")[2][:1].isupper()


def check_globals(path: Path, task: str = "detect") -> None:
    """Refuse a file whose pickle names anything outside the allow-list of `task`'s checkpoints
    (module docstring)."""
    import torch

    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a torch.save zip archive (text, a truncated file, TorchScript...)
        raise InvalidWeights(f"'{path.name}' is not an ultralytics checkpoint (it cannot be read as one)") from None
    refused = sorted(n for n in needed if not _allowed(n, task))
    if refused:
        what = "segmentation" if task == "segment" else "detection"
        raise InvalidWeights(f"'{path.name}' is refused: it references {', '.join(refused[:3])}, which an "
                             f"ultralytics {what} checkpoint does not contain (nothing from it was run)")


def _checked(path: str | Path, task: str = "detect") -> Path:
    file = Path(path)
    if not file.is_file():
        raise InvalidWeights(f"weights file '{file.name}' not found")
    if file.suffix.lower() != ".pt":
        raise InvalidWeights(f"'{file.name}': ultralytics checkpoints are .pt files")
    if task not in TASK_MODELS:
        raise InvalidWeights(f"no ultralytics task '{task}' (one of {', '.join(TASK_MODELS)})")
    check_globals(file, task)
    enforce()
    return file


def load_checkpoint(path: str | Path, task: str = "detect") -> dict[str, Any]:
    """The checkpoint dict of an ultralytics ``.pt`` of `task` (detect / segment) through both gates;
    InvalidWeights otherwise."""
    from ultralytics.nn.tasks import torch_safe_load

    file = _checked(path, task)
    try:
        ckpt, _ = torch_safe_load(str(file), safe_only=True)
    except Exception:
        raise InvalidWeights(f"'{file.name}' is not a loadable ultralytics checkpoint") from None
    return ckpt


def open_model(path: str | Path, task: str = "detect") -> Any:
    """``ultralytics.YOLO`` for a checkpoint of `task` (detect / segment), loaded through both gates."""
    from ultralytics import YOLO

    file = _checked(path, task)
    try:
        return YOLO(str(file), task=task)
    except Exception:
        what = "segmentation" if task == "segment" else "detection"
        raise InvalidWeights(f"'{file.name}' is not a loadable ultralytics {what} checkpoint") from None
