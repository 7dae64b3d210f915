"""FastAPI dependencies shared by every router."""

from __future__ import annotations

from fastapi import Request

from raysight.context import Platform


def platform(request: Request) -> Platform:
    """The Platform of this process (set by create_app)."""
    return request.app.state.platform
