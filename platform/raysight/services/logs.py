"""Training job logs: live stream, byte-offset polling and last-N lines over workspace.job_log(job_id).

Lines look like ``[2024-01-15T12:34:56] Epoch 3/10 box_loss=1.2 ... mAP50=0.61``; the job supervisor
appends them (see raysight.joblog). Only complete lines are ever returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.services import training

TAIL_MAX_LINES = 50
STREAM_POLL_S = 0.5


def _path(ctx: Platform, job_id: str) -> Path:
    training.get_job(ctx=ctx, job_id=job_id)  # 404 for an unknown job
    return ctx.workspace.job_log(job_id)


def _read_lines(path: Path, offset: int, max_lines: int | None) -> tuple[list[str], int]:
    """Complete lines from byte `offset` (at most `max_lines`) and the offset after the last one."""
    if not path.is_file():
        return [], offset
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read() if max_lines is None else fh.read(1024 * 1024)
    lines: list[str] = []
    pos = 0
    while max_lines is None or len(lines) < max_lines:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        lines.append(data[pos:end].decode("utf-8", errors="replace"))
        pos = end + 1
    return lines, offset + pos


def tail(*, ctx: Platform, job_id: str, offset: int = 0) -> dict[str, Any]:
    """Up to 50 lines from byte `offset`; `offset` in the answer is where the next call starts."""
    path = _path(ctx, job_id)
    size = path.stat().st_size if path.is_file() else 0
    offset = max(0, min(int(offset), size))
    found, new_offset = _read_lines(path, offset, TAIL_MAX_LINES)
    return {"offset": new_offset, "lines": found}


def lines(*, ctx: Platform, job_id: str, n: int = 100) -> dict[str, Any]:
    """The last `n` lines (n=0: all) and the file's total line count."""
    path = _path(ctx, job_id)
    everything, _ = _read_lines(path, 0, None)
    chosen = everything if n <= 0 else everything[-n:]
    return {"lines": chosen, "total": len(everything), "returned": len(chosen)}


async def stream(*, ctx: Platform, job_id: str, poll_s: float = STREAM_POLL_S) -> AsyncIterator[str]:
    """Every line from the start, then new ones as they come; ends once the job is no longer queued or
    running and its log has been read to the end."""
    path = _path(ctx, job_id)
    offset = 0
    while True:
        found, offset = await asyncio.to_thread(_read_lines, path, offset, 500)
        for line in found:
            yield line
        if found:
            continue
        status = (await asyncio.to_thread(training.get_job, ctx=ctx, job_id=job_id))["status"]
        if status not in training.ACTIVE:
            found, offset = await asyncio.to_thread(_read_lines, path, offset, None)
            for line in found:
                yield line
            return
        await asyncio.sleep(poll_s)


def check_job(*, ctx: Platform, job_id: str) -> None:
    """404 unless the job exists (before a stream response starts)."""
    _path(ctx, job_id)
