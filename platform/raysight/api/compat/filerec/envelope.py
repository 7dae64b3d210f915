"""The filerec envelope {"message", "error_code"} and the one place that maps errors to its codes.

Every answer is HTTP 200 with a JSON object; `error_code` is a string ("1000" = success) and
`message` is "" on success or a human sentence on failure. Codes (also in docs/api-notes-filerec.md):
1001 invalid request, 1002 unknown id, 1003 conflicting state (in use, already ended, exists),
1004 too large, 1005 a worker or service unavailable, 1006 timeout, 1007 method not allowed on this
path, 1008 missing or invalid API key (HTTP 401), 1099 unexpected server error.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from raysight.api.envelopes import (
    ErrorCodes,
    dialect_route_class,
    message_of,
    request_arguments,
    wrong_method_message,
)

SUCCESS = "1000"
INVALID, NOT_FOUND, CONFLICT, TOO_LARGE, UNAVAILABLE, TIMEOUT, METHOD, UNAUTHORIZED, INTERNAL = (
    "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1099")
CODES = ErrorCodes(invalid=INVALID, not_found=NOT_FOUND, method=METHOD, conflict=CONFLICT, too_large=TOO_LARGE,
                   unavailable=UNAVAILABLE, timeout=TIMEOUT, unauthorized=UNAUTHORIZED, internal=INTERNAL)


def ok(**fields: Any) -> JSONResponse:
    """The success envelope, with the endpoint's fields beside message and error_code."""
    return JSONResponse({"message": "", "error_code": SUCCESS, **fields})


def code_of(exc: Exception) -> str:
    return CODES.of(exc)


def render(request: Request, exc: Exception) -> JSONResponse:
    """The failure envelope for any error raised while answering a filerec path."""
    code = code_of(exc)
    message = wrong_method_message(request) if code == METHOD else message_of(exc)
    return JSONResponse({"message": message, "error_code": code})


FilerecRoute = dialect_route_class(render, wrong_method_in_envelope=True)


# -- reading inputs --------------------------------------------------------------------------------
async def inputs(request: Request) -> dict[str, Any]:
    """Query parameters merged with a JSON object body or form fields (the body wins): clients of
    this API send ids either way, on GET as well as POST."""
    return await request_arguments(request)

