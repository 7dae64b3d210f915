"""FastAPI dependencies shared by every router."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from raysight.context import Platform


async def platform(request: Request) -> Platform:
    """The Platform of this process (set by create_app). A coroutine on purpose: FastAPI runs a plain
    function dependency in its thread pool, a thread hand-off on every request for one attribute read."""
    return request.app.state.platform


def multipart_doc(required: list[str], properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra` for routes that read multipart forms themselves (to stream uploads)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
