"""The image-embedding cache: repeated prompts on one image skip the image encoder."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np


def content_hash(image: np.ndarray) -> str:
    """Hash of the decoded pixels (and shape), so the same picture sent as PNG or JPEG-decoded
    arrays of equal content share one entry."""
    arr = np.ascontiguousarray(image)
    digest = hashlib.blake2b(arr.tobytes(), digest_size=16)
    digest.update(repr((arr.shape, str(arr.dtype))).encode())
    return digest.hexdigest()


@dataclass
class Embedding:
    features: Any  # torch.Tensor 1x256x64x64
    original_size: tuple[int, int]  # (H, W)
    input_size: tuple[int, int]  # (h, w) after ResizeLongestSide
    image: np.ndarray  # RGB, kept for cut-outs and colours


class EmbeddingCache:
    """A small thread-safe LRU of embeddings keyed by image content hash."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = max(1, capacity)
        self._items: OrderedDict[str, Embedding] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Embedding | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: str, value: Embedding) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {"size": len(self._items), "hits": self.hits, "misses": self.misses}
