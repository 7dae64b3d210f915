"""OCR through the `read_text` provider (the OCR plugin unless configured otherwise), and the
predictText endpoint's logic."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from raysight.context import Platform
from raysight.services.capabilities import read_text
from raysight.services.imgseg import sources, textinfo
from raysight.services.imgseg.components import TextLine


async def ocr(*, ctx: Platform, image: np.ndarray, details: bool = True) -> dict[str, Any]:
    """{"engine", "lines": [...], "align"} for one RGB image: with `details` each line as predictText
    reports it (box, msg, colours, line height) and the block's alignment; else the plain lines."""
    result = await read_text(ctx=ctx, image=image)
    if not details:
        return result
    described = await asyncio.to_thread(textinfo.describe, np.asarray(image), list(result.get("lines", [])))
    return {"engine": result.get("engine"), **described}


def text_lines(result: dict[str, Any], *, min_score: float = 0.5) -> list[TextLine]:
    out = []
    for line in result.get("lines", []):
        if float(line.get("score", 1.0)) < min_score or not str(line.get("msg", "")).strip():
            continue
        x, y = line["left_top_coord"]
        out.append(TextLine(box=(int(x), int(y), int(x + line["width"]), int(y + line["height"])),
                            text=str(line["msg"]), score=float(line.get("score", 1.0)),
                            color=line.get("color"), background=line.get("backgroundColor")))
    return out


def predict_text_view(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One image's entry of predictText: the line objects, then {"align": ...}."""
    items = [{k: line[k] for k in ("left_top_coord", "width", "height", "msg", "backgroundColor", "color",
                                   "line_height")} for line in result.get("lines", [])]
    if items:
        items.append({"align": result.get("align", "left")})
    return items


async def predict_text(*, ctx: Platform, urls: list[str], own_hosts: set[str] | None = None) -> dict[str, Any]:
    """predictText: {url: [lines..., {"align"}]} for every URL (all images are read first, so a
    bad URL fails the request before any OCR runs)."""
    images = await sources.read_many(ctx=ctx, urls=urls, own_hosts=own_hosts)
    out: dict[str, Any] = {}
    for src in images:
        out[src.url] = predict_text_view(await ocr(ctx=ctx, image=src.image))
    return out
