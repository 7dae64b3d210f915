"""The PaddleX envelope: HTTP 200 with {"status": 1, ...fields} on success and {"status": -1, "message"}
on every failure (domain errors, validation, bad JSON, wrong method, unknown path under
/compat/paddlex/). `render` is the dialect's one error handler."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from raysight.api.envelopes import dialect_route_class, message_of, request_arguments, wrong_method_message


def ok(**fields: Any) -> JSONResponse:
    """The success envelope with the endpoint's fields."""
    return JSONResponse({"status": 1, **fields})


def render(request: Request, exc: Exception) -> JSONResponse:
    """The failure envelope for any error raised while answering a PaddleX path."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        message = wrong_method_message(request)
    elif isinstance(exc, HTTPException) and exc.status_code == 404:
        message = f"unknown path or method: {request.method} {request.url.path}"
    else:
        message = message_of(exc)
    return JSONResponse({"status": -1, "message": message})


PaddlexRoute = dialect_route_class(render, wrong_method_in_envelope=True)


def _query_value(text: str) -> Any:
    """A query value as JSON where it parses as a number, boolean, list or object, else the string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool | list | dict) else text


async def inputs(request: Request) -> dict[str, Any]:
    """Query parameters merged with the JSON object body (the body wins): the PaddleX client sends its
    arguments as JSON bodies on GET and DELETE as well."""
    query = {k: _query_value(v) for k, v in request.query_params.items()}
    return await request_arguments(request, query=query, forms=False)
