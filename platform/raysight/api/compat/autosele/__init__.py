"""AutoSele dialect (specs/autosele-api.md): envelope {"errno", "data", "message"}, errno 1 = success.

Mounted at the root and under /compat/autosele/. Parameters come as JSON, form fields or query
(`params.read_params`); `envelope.render` is the one place that maps errors to errno codes. More route modules
(data selection, data operations) are included into `router` here, before the app is built.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele import dataops, evaluation, resources, selection, system, training
from raysight.api.compat.autosele.envelope import AutoseleRoute
from raysight.api.middleware.errors import leaf_routes

PREFIX = "/compat/autosele"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
router = APIRouter()
router.include_router(resources.router)
router.include_router(training.router)
router.include_router(evaluation.router)
router.include_router(system.router)
router.include_router(selection.router)
router.include_router(dataops.router)


def _fallback(request: Request) -> JSONResponse:
    """Any other path under /compat/autosele/: 405 where the path exists with another method."""
    sub = request.url.path[len(PREFIX):]
    for route in leaf_routes(router.routes):
        if getattr(route, "path", "").startswith(PREFIX):
            continue
        if route.path_regex.match(sub) and getattr(route, "methods", None):
            raise HTTPException(status_code=405)
    raise HTTPException(status_code=404)


# At the root mount this matches /compat/autosele/<anything> no other route took (the prefixed mount's
# routes come first in the app), at the prefixed mount a path no client uses: order in `router` is free.
_catch_all = APIRouter(route_class=AutoseleRoute)
_catch_all.add_api_route(PREFIX + "/{rest:path}", _fallback, methods=ALL_METHODS, include_in_schema=False)
router.include_router(_catch_all)
