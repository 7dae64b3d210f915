"""Masks on the wire: row-major run lengths starting with a run of zeros.

``{"size": [h, w], "counts": [z0, o0, z1, o1, ...]}`` - far smaller than a bool array for the
blob-like masks SAM produces, and trivial to decode on the other side.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def encode(mask: np.ndarray) -> dict[str, Any]:
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
    h, w = (int(v) for v in rle["size"])
    values = np.zeros(len(rle["counts"]), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, np.asarray(rle["counts"], dtype=np.int64))
    out = np.zeros(h * w, dtype=bool)
    out[: flat.size] = flat[: h * w]
    return out.reshape(h, w)
