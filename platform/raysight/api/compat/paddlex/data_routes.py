"""PaddleX routes: /workspace, /dataset (+ /split, /details), /file, /system, /demo."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from raysight.api.compat.paddlex.envelope import PaddlexRoute, inputs, ok
from raysight.api.compat.paddlex.schemas import DatasetCreate, DatasetImport, DatasetSplit
from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services.paddlex import datasets, demo, files, system_info, workspace_attrs

router = APIRouter(tags=["paddlex"], route_class=PaddlexRoute)


@router.get("/workspace")
async def workspace_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**workspace_attrs.get(ctx=ctx, struct=args.get("struct"), code=args.get("id"),
                                    attr_list=args.get("attr_list")))


@router.put("/workspace")
@router.post("/workspace")  # the document's own example sends this PUT as a POST
async def workspace_put(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    workspace_attrs.put(ctx=ctx, struct=args.get("struct"), code=args.get("id"), attr_dict=args.get("attr_dict"))
    return ok()


@router.get("/dataset")
async def dataset_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    if args.get("did") is not None:
        return ok(**datasets.get(ctx=ctx, did=args["did"]))
    return ok(**datasets.list_all(ctx=ctx))


@router.post("/dataset")
async def dataset_create(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = DatasetCreate.model_validate(await inputs(request))
    return ok(**datasets.create(ctx=ctx, name=body.name, desc=body.desc, dataset_type=body.dataset_type))


@router.put("/dataset")
async def dataset_import(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = DatasetImport.model_validate(await inputs(request))
    datasets.start_import(ctx=ctx, did=body.did, path=body.path)
    return ok()


@router.delete("/dataset")
async def dataset_delete(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    datasets.delete(ctx=ctx, did=args.get("did"))
    return ok()


@router.put("/dataset/split")
async def dataset_split(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    body = DatasetSplit.model_validate(await inputs(request))
    await datasets.split(ctx=ctx, did=body.did, val_split=body.val_split, test_split=body.test_split)
    return ok()


@router.get("/dataset/details")
async def dataset_details(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(details=datasets.details(ctx=ctx, did=args.get("did")))


@router.get("/file")
async def file_get(request: Request, ctx: Platform = Depends(platform)) -> Response:
    """Images as base64 (labels drawn with `did`), xml as the raw text, txt/log as JSON lines."""
    args = await inputs(request)
    found = await files.read(ctx=ctx, path=args.get("path"), did=args.get("did"))
    if found["kind"] == "xml":
        return Response(found["text"], media_type="application/xml")
    return ok(**found["fields"])


@router.get("/system")
async def system_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**system_info.info(ctx=ctx, kind=args.get("type")))


@router.get("/demo")
async def demo_get(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(attr=demo.progress(ctx=ctx, prj_type=args.get("prj_type")))


@router.post("/demo")
async def demo_post(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**await demo.start(ctx=ctx, kind=args.get("type"), prj_type=args.get("prj_type")))


@router.put("/demo")
async def demo_put(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    return ok(**demo.stop(ctx=ctx, prj_type=args.get("prj_type")))
