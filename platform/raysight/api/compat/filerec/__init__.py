"""filerec dialect (specs/filerec-api.md): envelope {"message", "error_code"}, "1000" = success.

Routes live in `tasks` (packages, results, recognition tasks) and `management` (training side,
models, datasets, liveness); `envelope.render` is the one place that maps errors to the codes.
"""

from __future__ import annotations

from fastapi import APIRouter

from raysight.api.compat.filerec import management, tasks

router = APIRouter()
router.include_router(tasks.router)
router.include_router(management.router)
