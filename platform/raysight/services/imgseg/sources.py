"""Where images come from: uploaded bytes, the platform's own /uploads/ URLs (read from disk, no
HTTP call) and remote URLs (url_fetch, SSRF-safe)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import numpy as np

from raysight.context import Platform
from raysight.errors import Invalid, NotFound, RaysightError, TooLarge
from raysight.imaging import decode_image
from raysight.services.imgseg import url_fetch
from raysight.services.imgseg.common import ReadFailed

UPLOAD_PREFIXES = ("/uploads/", "/compat/imgseg/uploads/")


@dataclass
class SourceImage:
    image: np.ndarray  # RGB uint8
    data: bytes
    url: str


def own_upload_name(url: str, own_hosts: set[str] | None = None) -> str | None:
    """The file name when `url` points at this platform's /uploads/ (relative, or on one of
    `own_hosts`, e.g. the host the request came in on), else None."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    if parts.netloc:
        hosts = {h.lower() for h in (own_hosts or set())}
        if parts.netloc.lower() not in hosts and (parts.hostname or "").lower() not in hosts:
            return None
    if not path.startswith("/") and not parts.netloc:
        path = "/" + path
    for prefix in UPLOAD_PREFIXES:
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return path[len(prefix):]
    return None


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB pixels of `data`; TooLarge above `max_pixels` (checked on the header, before decoding)."""
    try:
        return decode_image(data, max_decode_pixels=max_pixels)
    except TooLarge:
        raise
    except RaysightError as exc:
        raise ReadFailed(f"the data is not a readable image: {exc.message}") from exc


async def read_url(*, ctx: Platform, url: str, own_hosts: set[str] | None = None) -> SourceImage:
    url = (url or "").strip()
    if not url:
        raise Invalid("an image URL is required")
    name = own_upload_name(url, own_hosts)
    if name is not None:
        try:
            path = ctx.workspace.resolve_served(f"uploads/{name}", allowed=("uploads",))
        except NotFound as exc:
            raise ReadFailed(f"uploaded file '{name}' not found") from exc
        data = await asyncio.to_thread(path.read_bytes)
    else:
        data = await url_fetch.fetch(url, settings=ctx.settings)
    image = await asyncio.to_thread(decode, data, ctx.settings.max_image_pixels)
    return SourceImage(image=image, data=data, url=url)


def check_url_count(ctx: Platform, count: int) -> None:
    """Invalid when one request names more image URLs than RAYSIGHT_MAX_URLS_PER_REQUEST."""
    limit = ctx.settings.max_urls_per_request
    if count > limit:
        raise Invalid(f"{count} image URLs in one request; at most {limit} are accepted "
                      "(RAYSIGHT_MAX_URLS_PER_REQUEST)")


async def read_many(*, ctx: Platform, urls: list[str], own_hosts: set[str] | None = None) -> list[SourceImage]:
    check_url_count(ctx, len(urls))
    return list(await asyncio.gather(*(read_url(ctx=ctx, url=u, own_hosts=own_hosts) for u in urls)))
