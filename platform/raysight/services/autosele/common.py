"""Shared by the AutoSele services: names clients choose, dates they send, record lookups."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select

from raysight.errors import Invalid, NotFound
from raysight.store.models import AutoseleData, AutoseleNetwork, AutoseleTrain
from raysight.store.models.base import iso

NAME = re.compile(r"^[^/\\\x00-\x1f]{1,128}$")
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def check_name(value: str, what: str) -> str:
    """A display name: 1-128 characters, no slashes or control characters (Chinese is fine)."""
    text = value.strip()
    if not NAME.match(text) or text in (".", ".."):
        raise Invalid(f"{what} must be 1-128 characters without slashes or control characters")
    return text


def check_date(value: str | None, what: str) -> str | None:
    """'2018-07-31 12:22:30' (or ISO, or a bare date) as the client sent it, validated."""
    if value is None:
        return None
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(value, fmt)
            return value
        except ValueError:
            continue
    raise Invalid(f"{what} must be a time like '2018-07-31 12:22:30', got {value!r}")


def now_text() -> str:
    return datetime.now().strftime(DATE_FORMATS[0])


def network_row(s: Any, name: str) -> AutoseleNetwork:
    row = s.scalar(select(AutoseleNetwork).where(AutoseleNetwork.net_name == name))
    if row is None:
        raise NotFound(f"network '{name}' not found (see /network)")
    return row


def data_row(s: Any, name: str) -> AutoseleData:
    row = s.scalar(select(AutoseleData).where(AutoseleData.data_name == name))
    if row is None:
        raise NotFound(f"data '{name}' not found (see /sour_datas)")
    return row


def train_row(s: Any, task_id: str) -> AutoseleTrain:
    row = s.scalar(select(AutoseleTrain).where(AutoseleTrain.task_id == task_id))
    if row is None:
        raise NotFound(f"training task '{task_id}' not found")
    return row


def stamp(row: Any) -> dict[str, Any]:
    return {"created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}
