"""A training job's curves as one self-contained HTML page (inline SVG, no script): one chart per metric of
the job's per-epoch history. The PaddleX dialect's /project/task/vdl points at it (GET
/train/jobs/{job_id}/curves) in place of a VisualDL server."""

from __future__ import annotations

import html
from typing import Any

from raysight.context import Platform
from raysight.services import training

WIDTH, HEIGHT, PAD = 360, 180, 30


def _chart(name: str, points: list[tuple[float, float]]) -> str:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD - (y - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2"/>' for x, y in points)
    return (f'<figure><figcaption>{html.escape(name)} (last {ys[-1]:.4g})</figcaption>'
            f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
            f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="none" '
            f'stroke="#ccc"/><text x="2" y="{PAD}" font-size="10">{y1:.3g}</text>'
            f'<text x="2" y="{HEIGHT - PAD}" font-size="10">{y0:.3g}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10">epoch {x1:g}</text>'
            f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>{dots}</svg></figure>')


def series(history: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """metric name -> [(epoch, value)] over the job's history (numeric values only)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for entry in history:
        epoch = entry.get("epoch")
        for key, value in entry.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                out.setdefault(key, []).append((float(epoch or 0), float(value)))
    return out


def page(*, ctx: Platform, job_id: str) -> str:
    """The HTML page of `job_id`'s curves (NotFound for an unknown job)."""
    job = training.get_job(ctx=ctx, job_id=job_id)
    charts = "".join(_chart(name, pts) for name, pts in sorted(series(job["history"]).items()))
    title = html.escape(f"{job['job_id']} - {job['model_name']} - {job['status']}, epoch {job['epoch']}/"
                        f"{job['epochs']}")
    body = charts or "<p>No epoch has finished yet.</p>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font-family:sans-serif}figure{display:inline-block;margin:8px}</style></head>"
            f"<body><h1>{title}</h1>{body}</body></html>")
