"""The one place record ids are made.

Every id the platform hands out is ``<prefix>_<UTC timestamp>_<random hex>`` (sortable by creation,
unique across processes) or, where no order is needed, ``<prefix>_<random hex>``. Dialects that show
their own id shapes (PaddleX ``P0001``) map them onto these in their own tables.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


def timestamped_id(prefix: str, *, random_bytes: int = 3) -> str:
    """``job_20261127_183001_a1b2c3``: sortable by creation time, unique across processes."""
    return f"{prefix}_{datetime.now(UTC):%Y%m%d_%H%M%S}_{secrets.token_hex(random_bytes)}"


def random_id(prefix: str, *, random_bytes: int = 8, sep: str = "_") -> str:
    """``ingest_0f1e2d3c4b5a6978``: an opaque unique id."""
    return f"{prefix}{sep}{secrets.token_hex(random_bytes)}"


def sequential_code(prefix: str, number: int, *, width: int = 4) -> str:
    """``P0001``: the display code of the `number`-th record of a kind (dialects that number records)."""
    return f"{prefix}{number:0{width}d}"


def uuid_id(prefix: str, *, sep: str = "_", time_based: bool = False) -> str:
    """``samPredict_0f1e...`` with a canonical UUID (uuid1 if `time_based`, else uuid4): only for the ids a
    dialect documents with a UUID in them (imgseg's ``samPredict_<uuid>``, ``Train-imgseg-<uuid>``)."""
    return f"{prefix}{sep}{uuid.uuid1() if time_based else uuid.uuid4()}"
