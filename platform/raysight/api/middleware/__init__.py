"""ASGI middlewares of the API (issue 9 hardening): cross-site protection, API-key helpers and the
request-body limit. create_app adds them; each answers errors in the envelope of the route it guards."""

from __future__ import annotations

from raysight.api.middleware.auth import OPEN_PATHS, ApiKeyMiddleware, has_valid_key, key_is_required
from raysight.api.middleware.body_limit import BodyLimitMiddleware
from raysight.api.middleware.cross_site import CrossSiteMiddleware

__all__ = ["OPEN_PATHS", "ApiKeyMiddleware", "BodyLimitMiddleware", "CrossSiteMiddleware", "has_valid_key",
           "key_is_required"]
