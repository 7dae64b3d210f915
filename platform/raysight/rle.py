"""Masks on the wire: row-major run lengths starting with a run of zeros.

``{"size": [h, w], "counts": [z0, o0, z1, o1, ...]}`` - far smaller than a bool array for the
blob-like masks segmenters produce, and trivial to decode on the other side. Part of the plugin
contract (``segment_with_prompts`` answers carry masks in this form; ``raysight.plugin.rle``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def encode(mask: np.ndarray) -> dict[str, Any]:
    """The run lengths of a boolean HxW mask."""
    flat = np.asarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return {"size": list(mask.shape[:2]), "counts": []}
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def decode(rle: dict[str, Any]) -> np.ndarray:
    """The boolean HxW mask of `rle`."""
    h, w = (int(v) for v in rle["size"])
    values = np.zeros(len(rle["counts"]), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, np.asarray(rle["counts"], dtype=np.int64))
    out = np.zeros(h * w, dtype=bool)
    out[: flat.size] = flat[: h * w]
    return out.reshape(h, w)
