"""Domain errors raised by services. Each API dialect maps them to its own envelope in one place."""

from __future__ import annotations

import math


class RaysightError(Exception):
    """Base of every domain error. `code` is a short machine-readable reason."""

    status = 500
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Invalid(RaysightError):
    """The request is malformed or makes no sense (400)."""

    status = 400
    code = "invalid"


class Unprocessable(RaysightError):
    """A value is out of its allowed range (422)."""

    status = 422
    code = "unprocessable"


class NotFound(RaysightError):
    status = 404
    code = "not_found"


class Conflict(RaysightError):
    """The resource is in a state that forbids the operation (409)."""

    status = 409
    code = "conflict"


class TooLarge(RaysightError):
    status = 413
    code = "too_large"


class Unauthorized(RaysightError):
    status = 401
    code = "unauthorized"


class Unavailable(RaysightError):
    """A dependency (Ray, a deployment, a model) cannot serve the request now (503)."""

    status = 503
    code = "unavailable"


class Busy(Unavailable):
    """A queue is full (back-pressure): 503 with a Retry-After of `retry_after_s` whole seconds."""

    code = "busy"

    def __init__(self, message: str, *, retry_after_s: float = 1.0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class Timeout(RaysightError):
    status = 504
    code = "timeout"
