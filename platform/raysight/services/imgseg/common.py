"""Errors of the imgseg services (domain errors with codes the dialect maps to its err numbers)
and small shared helpers."""

from __future__ import annotations

from typing import Any

from raysight.errors import Conflict, Invalid, NotFound, RaysightError, Timeout

COMPONENT_TAG = "imgseg-components"
DEFAULT_LABELS = ("Bar", "Button", "Image", "Input", "Text")


class UrlRefused(Invalid):
    """The URL may not be fetched (scheme, private address...)."""

    code = "url_refused"


class ReadFailed(Invalid):
    """The image could not be read from its URL (HTTP error, not an image...)."""

    code = "read_url_fail"


class ReadTimeout(Timeout):
    code = "read_timeout"


class BadPrompt(Invalid):
    code = "bad_prompt"


class ModelIdError(NotFound):
    code = "model_id"


class TaskNotFound(NotFound):
    code = "task_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class TrainingBusy(Conflict):
    code = "training_busy"


class ImageOutOfRange(Invalid):
    """Training images must be 30-740 px per side."""

    code = "image_out_of_range"


def with_fields(exc: RaysightError, **fields: Any) -> RaysightError:
    """Attach payload fields (task_id...) that the dialect echoes in its error envelope."""
    extra = dict(getattr(exc, "fields", {}) or {})
    extra.update({k: v for k, v in fields.items() if v is not None})
    exc.fields = extra  # type: ignore[attr-defined]
    return exc
