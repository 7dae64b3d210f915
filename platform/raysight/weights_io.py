"""Reading weights files without running code from them, and checking them against an architecture.

A ``.pt`` / ``.pth`` file is a pickle: loading it with ``torch.load(weights_only=False)`` runs whatever
the file tells the unpickler to call. Every family reads state dicts through `load_tensors`
(``weights_only=True``: tensors, containers and numbers only) and checks them with `require_fit`
against the architecture built on the ``meta`` device (shapes without memory, nothing downloaded).
Ultralytics checkpoints, which pickle model classes, have their own allow-list loader in raysight_yolo.
No ray, no fastapi here.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from raysight.errors import InvalidWeights

MAX_LISTED = 4  # mismatches named in a message


def load_tensors(path: Path | str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a file that is not a PyTorch weights file, or
    that references anything beyond tensors and plain containers, raises InvalidWeights (nothing
    from it is run)."""
    import torch

    file = Path(path)
    if not file.is_file():
        raise InvalidWeights(f"weights file '{file.name}' not found")
    try:
        try:  # memory-mapped: checking a 2.5 GB SAM file does not read it all
            return torch.load(str(file), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            return torch.load(str(file), map_location="cpu", weights_only=True)  # the legacy (non-zip) format
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if found:
            raise InvalidWeights(f"'{file.name}' is refused: it references {found.group(1)}, which a weights "
                                 "file does not need (nothing from it was run)") from None
        raise InvalidWeights(f"'{file.name}' is not a PyTorch weights file (it cannot be read as one)") from None
    except Exception:  # torch reports a damaged or foreign file in many ways (KeyError, RuntimeError, EOF...)
        raise InvalidWeights(f"'{file.name}' is not a PyTorch weights file (it cannot be read as one)") from None


def tensor_dict(obj: Any) -> dict[str, Any] | None:
    """`obj` as {name: tensor} (a state dict) or None if it is not one."""
    import torch

    if not isinstance(obj, Mapping) or not obj:
        return None
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return None
    return dict(obj)


def meta_shapes(build: Callable[[], Any]) -> dict[str, tuple[int, ...]]:
    """{key: shape} of the state dict of the module `build()` makes, built on the meta device (on the
    CPU where a constructor needs real values, e.g. TinyViT's `.item()`)."""
    import torch

    try:
        with torch.device("meta"):
            module = build()
    except (RuntimeError, NotImplementedError):
        module = build()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def mismatches(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]]) -> list[str]:
    """What keeps `state` from loading strictly into a module whose state dict has `expected` shapes."""
    problems: list[str] = []
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({', '.join(missing[:MAX_LISTED])}"
                        f"{', ...' if len(missing) > MAX_LISTED else ''})")
    if extra:
        problems.append(f"{len(extra)} unexpected key(s) ({', '.join(extra[:MAX_LISTED])}"
                        f"{', ...' if len(extra) > MAX_LISTED else ''})")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != tuple(shape):
            problems.append(f"{key} has shape {list(state[key].shape)} where the architecture has {list(shape)}")
    return problems


def require_fit(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], *, what: str) -> None:
    """Raise InvalidWeights naming the first mismatches if `state` does not fit `expected`."""
    problems = mismatches(state, expected)
    if problems:
        shown = problems[:MAX_LISTED] + ([f"{len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else [])
        raise InvalidWeights(f"{what}: {'; '.join(shown)}")
