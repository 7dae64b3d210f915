"""filerec routes: training parameters and uploads, model / dataset management, worker liveness."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.filerec.envelope import FilerecRoute, inputs, ok
from raysight.api.compat.filerec.schemas import DatasetIdBody, ModelIdBody, ParametersBody
from raysight.api.compat.filerec.uploads import uploaded
from raysight.api.deps import platform
from raysight.api.middleware.body_limit import archive_body
from raysight.context import Platform
from raysight.services.filerec import catalog, monitor, parameters

router = APIRouter(tags=["filerec"], route_class=FilerecRoute)


def _split(value: object) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


# -- training side -----------------------------------------------------------------------------------
@router.post("/training_model/set_parameters")
async def set_parameters(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """Recognizer (model_id 'ocr' or a registered model, conf, iou) and training parameters."""
    body = ParametersBody.model_validate(await inputs(request))
    return ok(parameters=parameters.update(ctx=ctx, values=body.model_dump(exclude_unset=True)))


@router.post("/training_model/upload_model")
@archive_body
async def upload_model(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """A weights file (multipart `file`; optional `plugin`, `name`, `classes`) registered as a model."""
    async with uploaded(request, ctx, "a weights file") as (file, fields):
        model = await catalog.upload_model(
            ctx=ctx, filename=file.filename or "", read=file.read,
            plugin=str(fields.get("plugin") or fields.get("model_type") or "") or None,
            name=str(fields.get("name") or "") or None, classes=_split(fields.get("classes")))
    return ok(model_id=model["model_id"], model=model)


@router.post("/training_model/upload_datasets")
@archive_body
async def upload_datasets(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    """A dataset archive (multipart `file`, zip) imported as a dataset with version v1."""
    async with uploaded(request, ctx, "a dataset zip") as (file, _fields):
        dataset = await catalog.upload_dataset(ctx=ctx, filename=file.filename or "", read=file.read)
    return ok(dataset_id=dataset["dataset_id"], dataset=dataset)


@router.get("/training_model/get_datasets")
def training_datasets(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**catalog.list_datasets(ctx=ctx))


@router.get("/model/get_models")
def get_models(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**catalog.list_models(ctx=ctx))


# -- monitoring --------------------------------------------------------------------------------------
@router.get("/monitor/is_detect_worker_alive")
async def is_detect_worker_alive(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**await monitor.detect_worker(ctx=ctx))


@router.get("/monitor/is_training_model_alive")
def is_training_model_alive(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**monitor.training_worker(ctx=ctx))


# -- managers ----------------------------------------------------------------------------------------
@router.get("/managers/get_datasets")
def manager_datasets(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**catalog.list_datasets(ctx=ctx))


@router.get("/managers/get_models")
def manager_models(ctx: Platform = Depends(platform)) -> JSONResponse:
    return ok(**catalog.list_models(ctx=ctx))


@router.post("/managers/delete_dataset")
async def delete_dataset(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = DatasetIdBody.model_validate(await inputs(request))
    return ok(**catalog.delete_dataset(ctx=ctx, dataset_id=body.dataset_id))


@router.post("/managers/delete_model")
async def delete_model(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = ModelIdBody.model_validate(await inputs(request))
    return ok(**await catalog.delete_model(ctx=ctx, model_id=body.model_id))
