"""Reading AutoSele parameters the way its clients send them: a JSON object body, form fields
(urlencoded or multipart) or the query string, on GET as well as POST. The body wins over the query.

Values a client sends as JSON text inside a form field or query (`train_con`, `map_value`, `dicts`)
are decoded by the typed readers below; every reader raises `Invalid` with the parameter's name.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from raysight.api.envelopes import request_arguments
from raysight.errors import Invalid


class Params(dict[str, Any]):
    """The merged parameters of one request, with typed readers."""

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        """A non-empty string (numbers are accepted and turned into text)."""
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Invalid(f"{name} is required")
            return default
        if isinstance(value, (dict, list, bool)):
            raise Invalid(f"{name} must be a string")
        return str(value).strip()

    def integer(self, name: str, *, required: bool = True, default: int | None = None,
                minimum: int | None = None, maximum: int | None = None) -> int | None:
        """An integer given as a number or as its text ('24')."""
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Invalid(f"{name} is required")
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
            if number is None:
                raise ValueError
        except (TypeError, ValueError):
            raise Invalid(f"{name} must be an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise Invalid(f"{name} must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise Invalid(f"{name} must be at most {maximum}")
        return number

    def number(self, name: str, *, required: bool = True, default: float | None = None,
               minimum: float | None = None, maximum: float | None = None) -> float | None:
        """A float given as a number or as its text ('0.85')."""
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Invalid(f"{name} is required")
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise Invalid(f"{name} must be a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise Invalid(f"{name} must be a finite number")
        if minimum is not None and number < minimum:
            raise Invalid(f"{name} must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise Invalid(f"{name} must be at most {maximum}")
        return number

    def flag(self, name: str, *, default: bool = False) -> bool:
        """A boolean given as true/false, 1/0, yes/no."""
        value = self.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise Invalid(f"{name} must be a boolean (1/0, true/false), got {value!r}")

    def mapping(self, name: str, *, required: bool = True) -> dict[str, Any] | None:
        """A JSON object, sent as one or as its JSON text (form fields, query)."""
        value = self.get(name)
        if value is None or value == "":
            if required:
                raise Invalid(f"{name} is required")
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise Invalid(f"{name} must be a JSON object") from None
        if not isinstance(value, dict):
            raise Invalid(f"{name} must be a JSON object")
        return value

    def id_list(self, name: str, *, required: bool = True) -> list[str]:
        """A comma-separated list ('0,1,2') or a JSON list; empty list when absent and optional."""
        value = self.get(name)
        if value is None or value == "" or value == []:
            if required:
                raise Invalid(f"{name} is required")
            return []
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(v).strip() for v in items if str(v).strip()]


async def read_params(request: Request) -> Params:
    """Query parameters merged with a JSON object body or form fields (the body wins)."""
    return Params(await request_arguments(request))
