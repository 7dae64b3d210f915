"""PaddleX RESTful dialect (specs/paddlex-api.md): HTTP 200 with {"status": 1, ...} or {"status": -1,
"message"}. Routes: `data_routes` (workspace, datasets, files, system, demos), `project_routes` (projects,
tasks, parameters, training, metrics, curves), `task_ops_routes` (evaluate, export, prune, predict),
`model_routes` (model records). `envelope.render` is the dialect's one error handler."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.paddlex import data_routes, model_routes, project_routes, task_ops_routes
from raysight.api.compat.paddlex.envelope import PaddlexRoute, render
from raysight.api.compat.paddlex.model_routes import get_model

router = APIRouter()
for _module in (data_routes, project_routes, task_ops_routes, model_routes):
    router.include_router(_module.router)

_unknown = APIRouter(route_class=PaddlexRoute)


# The dialect is included under /compat/paddlex/ and then at the root (api/app.py), so this route, seen
# at the root, comes after every real /compat/paddlex/... route and answers only what none of them took.
@_unknown.api_route("/compat/paddlex/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                    include_in_schema=False)
async def unknown(request: Request, rest: str) -> JSONResponse:
    """Any other path (or method) under /compat/paddlex/: status -1 in the envelope."""
    return render(request, HTTPException(status_code=404, detail=f"unknown path or method: {rest}"))


router.include_router(_unknown)

__all__ = ["get_model", "router"]
