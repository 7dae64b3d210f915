"""The PaddleX envelope: HTTP 200 with {"status": 1, ...fields} on success and {"status": -1, "message"}
on every failure (domain errors, validation, bad JSON, wrong method, unknown path under
/compat/paddlex/). `render` is the dialect's one error handler."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from raysight.api.envelopes import dialect_route_class, message_of, validation_message
from raysight.errors import Invalid


def ok(**fields: Any) -> JSONResponse:
    """The success envelope with the endpoint's fields."""
    return JSONResponse({"status": 1, **fields})


def render(request: Request, exc: Exception) -> JSONResponse:
    """The failure envelope for any error raised while answering a PaddleX path."""
    if isinstance(exc, ValidationError):
        message = validation_message(RequestValidationError(exc.errors()))
    elif isinstance(exc, HTTPException) and exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    elif isinstance(exc, HTTPException) and exc.status_code == 404:
        message = f"unknown path or method: {request.method} {request.url.path}"
    else:
        message = message_of(exc)
    return JSONResponse({"status": -1, "message": message})


class PaddlexRoute(dialect_route_class(render)):  # type: ignore[misc]
    """Also answers a wrong method in the envelope (Starlette answers that before the handler runs)."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        if self.methods and scope["method"] not in self.methods:
            response: Response = render(Request(scope, receive), HTTPException(status_code=405))
            response.headers["Allow"] = ", ".join(sorted(self.methods))
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


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
    found: dict[str, Any] = {k: _query_value(v) for k, v in request.query_params.items()}
    raw = await request.body()
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid("the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise Invalid("the body must be a JSON object")
        found.update(data)
    return found
