"""Native API: training logs (specs/platform-api.md, 日志管理 / Log Management)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from raysight.api.deps import platform
from raysight.context import Platform
from raysight.services import logs

router = APIRouter(tags=["logs"])


class TailResponse(BaseModel):
    offset: int
    lines: list[str]


class LinesResponse(BaseModel):
    lines: list[str]
    total: int
    returned: int


@router.get("/logs/stream", response_class=StreamingResponse)
def stream_logs(job_id: str = Query(...), ctx: Platform = Depends(platform)) -> StreamingResponse:
    """Server-Sent Events: `data: <line>` per log line, live; the stream ends when the job ends."""
    logs.check_job(ctx=ctx, job_id=job_id)

    async def events() -> AsyncIterator[str]:
        async for line in logs.stream(ctx=ctx, job_id=job_id):
            yield f"data: {line}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/logs/tail", response_model=TailResponse)
def tail_logs(job_id: str = Query(...), offset: int = Query(0, ge=0), ctx: Platform = Depends(platform)) -> Any:
    """At most 50 new lines from byte `offset`, and the offset for the next call."""
    return logs.tail(ctx=ctx, job_id=job_id, offset=offset)


@router.get("/logs/lines", response_model=LinesResponse)
def log_lines(job_id: str = Query(...), n: int = Query(100, ge=0), ctx: Platform = Depends(platform)) -> Any:
    """The last n lines (n=0: all)."""
    return logs.lines(ctx=ctx, job_id=job_id, n=n)
