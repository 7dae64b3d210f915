"""Native extension routes: projects (the capability the PaddleX dialect's projects are built on) and a
training job's curves page (what the PaddleX /project/task/vdl points at)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import curves
from raysight.services.paddlex import jobs, projects

router = APIRouter(tags=["projects"])


class CreateProjectRequest(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    project_type: str = Field(description="classification, detection, segmentation or instance_segmentation")


class BindRequest(BaseModel):
    dataset_code: str = Field(description="a PaddleX dataset id (D0001)")


@router.get("/projects")
def list_projects(ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return {"projects": [p["attr"] for p in projects.list_all(ctx=ctx)]}


@router.post("/projects")
def create_project(body: CreateProjectRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    pid = projects.create(ctx=ctx, name=body.name, desc=body.description, type=body.project_type)["pid"]
    return projects.get(ctx=ctx, pid=pid)


@router.get("/projects/{project_id}")
def get_project(project_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    return {**projects.get(ctx=ctx, pid=project_id), **jobs.list_all(ctx=ctx, pid=project_id)}


@router.put("/projects/{project_id}/dataset")
def bind_dataset(project_id: str, body: BindRequest, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    projects.bind(ctx=ctx, pid=project_id, did=body.dataset_code)
    return projects.get(ctx=ctx, pid=project_id)


@router.delete("/projects/{project_id}")
def delete_project(project_id: str, ctx: Platform = Depends(platform)) -> dict[str, Any]:
    projects.delete(ctx=ctx, pid=project_id)
    return {"ok": True, "message": "Project deleted successfully"}


@router.get("/train/jobs/{job_id}/curves", response_class=HTMLResponse)
def job_curves(job_id: str, ctx: Platform = Depends(platform)) -> HTMLResponse:
    """The job's per-epoch metrics as charts (an HTML page with inline SVG)."""
    return HTMLResponse(curves.page(ctx=ctx, job_id=job_id))
