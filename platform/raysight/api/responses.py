"""Response models more than one router of the native API answers with.

The native API's response models are the source of the JSON shapes (OpenAPI documents them); the
services' record dicts (training.as_dict, models.as_dict) carry exactly their fields, in their order
(tests/unit/test_response_shapes.py)."""

from __future__ import annotations

from pydantic import BaseModel


class OkResponse(BaseModel):
    """`{"ok": true, "message": "..."}`: what a delete, stop or save answers."""

    ok: bool
    message: str
