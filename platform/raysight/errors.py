"""Domain errors raised by services. Each API dialect maps them to its own envelope in one place."""

from __future__ import annotations

import math
import re


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


class InvalidWeights(Invalid):
    """A weights file that does not load into its family's architecture, or that would need code run
    to be read (400). The message names the file and the first mismatches."""

    code = "invalid_weights"


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


class WeightsMissing(Unavailable):
    """A model's weights file is not there; the family never answers with untrained weights instead
    (a `segment_with_prompts` provider raising it sends imgseg to the classical segmenter)."""

    code = "weights_missing"


_ABS_PATH = re.compile(r"(?<![\w.~/-])/(?:[^\s'\"/:,;()\[\]<>]+/)+([^\s'\"/:,;()\[\]<>]*)")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.%\w]*:[0-9A-Fa-f:.%\w]*\](?::\d{1,5})?")


def scrub(text: str, limit: int = 500) -> str:
    """`text` without internals a client should not see: absolute paths (kept: the file name), IP
    addresses (and ports); cut to `limit` characters."""
    text = _ABS_PATH.sub(lambda m: m.group(1) or "<path>", text)
    text = _IPV6.sub("<address>", _IPV4.sub("<address>", text))
    return text[:limit]


def public_message(exc: BaseException) -> str:
    """What a client may read about `exc`: a domain error's message, else its type and scrubbed text
    (the full text belongs in the server log)."""
    if isinstance(exc, RaysightError):
        return exc.message
    text = scrub(str(exc).strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
