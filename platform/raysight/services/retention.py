"""Retention of uploads/: images sent for inference and ingest are kept RAYSIGHT_UPLOADS_RETENTION_H
hours (0 keeps them), then removed by a sweep that runs at start-up and at most hourly as uploads come in."""

from __future__ import annotations

import logging
import time

from raysight.context import Platform

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 3600.0
_LAST = "uploads_swept_at"


def sweep_uploads(*, ctx: Platform, now: float | None = None) -> int:
    """Delete files of uploads/ older than the retention; returns how many went."""
    hours = ctx.settings.uploads_retention_h
    if hours <= 0:
        return 0
    cutoff = (now if now is not None else time.time()) - hours * 3600
    removed = 0
    for path in ctx.workspace.uploads.iterdir():
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # removed meanwhile by another replica
            continue
    if removed:
        log.info("removed %d uploads older than %g h", removed, hours)
    return removed


def maybe_sweep_uploads(*, ctx: Platform) -> int:
    """`sweep_uploads` unless this process swept less than SWEEP_EVERY_S ago."""
    now = time.time()
    if now - float(ctx.extras.get(_LAST, 0.0)) < SWEEP_EVERY_S:
        return 0
    ctx.extras[_LAST] = now
    return sweep_uploads(ctx=ctx, now=now)
