"""HTTP layer: create_app(platform) -> FastAPI with the native API and the compatible dialects."""

from raysight.api.app import create_app

__all__ = ["create_app"]
