"""The API key: one comparison used by the key middleware and by /health."""

from __future__ import annotations

import hmac
from collections.abc import Iterable


def key_is_required(api_key: str | None) -> bool:
    return bool(api_key)


def has_valid_key(headers: Iterable[tuple[bytes, bytes]], api_key: str | None) -> bool:
    """Whether the raw ASGI headers carry `api_key` (``Authorization: Bearer`` or ``X-API-Key``)."""
    if not api_key:
        return False
    given = ""
    auth = ""
    for name, value in headers:
        lname = name.decode("latin-1").lower()
        if lname == "x-api-key":
            given = given or value.decode("latin-1")
        elif lname == "authorization":
            auth = value.decode("latin-1")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), api_key.encode())
