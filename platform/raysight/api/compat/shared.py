"""Root paths that two dialects document. GET /model is PaddleX's (with `mid` or `type`) and AutoSele's
(no arguments): at the root one route answers both clients; under /compat/paddlex/ and /compat/autosele/
each dialect answers alone.

- with `mid` or `type` (query or JSON body): PaddleX's answer (`status` 1 and its fields);
- with neither: both dialects' fields in one object: PaddleX's `status` 1, `pretrained_models` and
  `exported_models`, and AutoSele's `errno` 1, `data` (models by training task) and `message`.
A failure carries both envelopes' fields too: `status` -1, `errno` (AutoSele's code), `data` null, `message`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from raysight.api.compat.autosele.envelope import code_of
from raysight.api.compat.autosele.evaluation import model_answer
from raysight.api.compat.paddlex.envelope import inputs
from raysight.api.compat.paddlex.model_routes import get_model
from raysight.api.deps import platform
from raysight.api.envelopes import dialect_route_class, message_of, wrong_method_message
from raysight.context import Platform
from raysight.services.paddlex import model_records


def render(request: Request, exc: Exception) -> JSONResponse:
    """A failure in both envelopes' fields (PaddleX reads `status`, AutoSele `errno`)."""
    wrong_method = isinstance(exc, HTTPException) and exc.status_code == 405
    message = wrong_method_message(request) if wrong_method else message_of(exc)
    return JSONResponse({"status": -1, "errno": code_of(exc), "data": None, "message": message})


# a method no dialect takes at a shared path (PUT /model) is answered in both envelopes too
router = APIRouter(tags=["paddlex", "autosele"],
                   route_class=dialect_route_class(render, wrong_method_in_envelope=True))


def both_model_lists(ctx: Platform) -> dict[str, Any]:
    """GET /model without arguments: PaddleX's two lists and AutoSele's answer in one object."""
    return {"status": 1, **model_records.get_models(ctx=ctx), **model_answer(ctx)}


@router.get("/model")
async def model_of_both_dialects(request: Request, ctx: Platform = Depends(platform)) -> JSONResponse:
    args = await inputs(request)
    if args.get("mid") is not None or args.get("type") is not None:
        return get_model(ctx, args)
    return JSONResponse(await asyncio.to_thread(both_model_lists, ctx))
