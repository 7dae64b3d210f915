"""The AutoSele envelope {"errno", "data", "message"} and the one place that maps errors to it.

Every answer is HTTP 200 with a JSON object. `errno` is the integer 1 on success; on failure it is one
of the codes below and `message` says why in a human sentence (`data` is null). Some endpoints carry
documented fields beside `data` (/show: or_data, la_data, total_img; /release_tab: name, total).
Codes (also in the README "AutoSele dialect" section): 400 invalid request (bad body, missing or
malformed parameter, path outside the import roots), 401 missing or invalid API key, 404 unknown id or
unknown path, 405 method not allowed on this path, 409 conflicting state, 413 too large, 503 a worker
or service unavailable, 504 timeout, 500 unexpected server error.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from raysight.api.envelopes import ErrorCodes, dialect_route_class, message_of, wrong_method_message

SUCCESS = 1
INVALID, UNAUTHORIZED, NOT_FOUND, METHOD, CONFLICT, TOO_LARGE, INTERNAL, UNAVAILABLE, TIMEOUT = (
    400, 401, 404, 405, 409, 413, 500, 503, 504)
CODES = ErrorCodes(invalid=INVALID, not_found=NOT_FOUND, method=METHOD, conflict=CONFLICT, too_large=TOO_LARGE,
                   unavailable=UNAVAILABLE, timeout=TIMEOUT, unauthorized=UNAUTHORIZED, internal=INTERNAL)


def ok(data: Any = None, message: str = "success", **fields: Any) -> JSONResponse:
    """The success envelope: errno 1, `data`, `message`, and any documented extra fields."""
    return JSONResponse({"errno": SUCCESS, "data": data, "message": message, **fields})


def code_of(exc: Exception) -> int:
    """The errno of a failure."""
    return CODES.of(exc)


def render(request: Request, exc: Exception) -> JSONResponse:
    """The failure envelope for any error raised while answering an AutoSele path."""
    code = code_of(exc)
    if code == METHOD:
        message = wrong_method_message(request)
    elif code == NOT_FOUND and isinstance(exc, HTTPException):
        message = f"no AutoSele endpoint at {request.url.path}"
    else:
        message = message_of(exc)
    return JSONResponse({"errno": code, "data": None, "message": message})


AutoseleRoute = dialect_route_class(render, wrong_method_in_envelope=True)
