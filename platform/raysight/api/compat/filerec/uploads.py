"""Reading the one uploaded file of a multipart request (whatever its field is called)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from raysight.context import Platform
from raysight.errors import Invalid


@asynccontextmanager
async def uploaded(request: Request, ctx: Platform, what: str) -> AsyncIterator[tuple[UploadFile, dict[str, Any]]]:
    """(the file, the other form fields and query parameters). The field `file` is preferred; any
    single file field is accepted."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid(f"send {what} as multipart/form-data (field 'file')")
    form = await request.form()
    try:
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        chosen = form.get("file")
        if not isinstance(chosen, UploadFile):
            if len(files) != 1:
                raise Invalid(f"multipart field 'file' ({what}) is required")
            chosen = files[0]
        fields: dict[str, Any] = dict(request.query_params)
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        yield chosen, fields
    finally:
        await form.close()
