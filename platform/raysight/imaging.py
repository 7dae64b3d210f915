"""Decode, validate and size images sent for inference (and reused by annotation, SAM, OCR...).

Uploads are decoded once in the ingress. The header is read first (cheap, no pixel data) so that a
decompression bomb is refused before any memory is spent; very large images are decoded at a reduced
scale (JPEG DCT scaling via OpenCV's IMREAD_REDUCED_*) and downscaled to at most `max_pixels`, and
callers scale the boxes back with the returned factor.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from raysight.errors import Invalid, TooLarge

# Formats the native API accepts (by content, not by file name).
FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp"}
# Above this an image is refused outright (a 20000 x 20000 image is 400 MP): decompression bombs.
MAX_DECODE_PIXELS = 400_000_000
# Above this an image is downscaled before it is sent to a model replica (detectors resize to
# 640 px anyway; 16 MP keeps small objects in 4K frames while bounding memory and transfer).
MAX_INFER_PIXELS = 16_000_000


@dataclass(frozen=True)
class ImageInfo:
    format: str  # PIL format name, e.g. "JPEG"
    width: int
    height: int

    @property
    def suffix(self) -> str:
        return FORMATS.get(self.format, ".img")

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _magic_ok(data: bytes) -> bool:
    return (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n" or data[:2] == b"BM"
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def probe(data: bytes, *, max_decode_pixels: int | None = None) -> ImageInfo:
    """Format and size from the header only; Invalid if `data` is no supported image, TooLarge above
    `max_decode_pixels` (RAYSIGHT_MAX_IMAGE_PIXELS where callers have settings)."""
    if not data:
        raise Invalid("empty file: expected an image")
    if not _magic_ok(data):
        # checked before PIL sees the data: ultralytics patches PIL.Image.open to try installing a
        # HEIF plugin on unidentified files, which must not happen for every bad upload
        raise Invalid("unsupported or unreadable image: jpg, png, bmp or webp expected")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, (width, height) = im.format or "", im.size
    except Exception as exc:  # PIL raises many types for corrupt headers (and patched openers more)
        raise Invalid("the file is not a readable image (jpg, png, bmp or webp expected)") from exc
    if fmt not in FORMATS:
        raise Invalid(f"unsupported image format {fmt or 'unknown'}: jpg, png, bmp or webp expected")
    if width <= 0 or height <= 0:
        raise Invalid("the image has no pixels")
    max_decode_pixels = max_decode_pixels or MAX_DECODE_PIXELS
    if width * height > max_decode_pixels:
        raise TooLarge(f"image of {width}x{height} pixels is too large (limit {max_decode_pixels:,} pixels, "
                       "RAYSIGHT_MAX_IMAGE_PIXELS)")
    return ImageInfo(fmt, width, height)


def decode_image(data: bytes, *, max_pixels: int | None = None,
                 max_decode_pixels: int | None = None) -> np.ndarray:
    """Decode an uploaded image to RGB uint8 HxWx3 (EXIF orientation applied).

    Raises Invalid for anything that is not a supported, intact image, TooLarge above
    MAX_DECODE_PIXELS. With `max_pixels`, larger images come back downscaled to fit.
    """
    return decode_sized(data, max_pixels=max_pixels, max_decode_pixels=max_decode_pixels)[0]


_REDUCED = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2,
            1: cv2.IMREAD_COLOR}


def jpeg_reduction(info: ImageInfo, *, max_pixels: int | None = None, min_side: int | None = None) -> int:
    """1, 2, 4 or 8: how many times smaller a JPEG can be decoded (libjpeg scales while it decodes, so
    the full-size bitmap is never made). The largest factor that still leaves at least `max_pixels`
    pixels (the rest is downscaled after), or at least `min_side` pixels on the long side (the size a
    model scales the image to anyway); 1 for other formats."""
    if info.format not in ("JPEG", "MPO"):
        return 1
    for factor in (8, 4, 2):
        if max_pixels and info.pixels >= max_pixels * factor * factor:
            return factor
        if min_side and max(info.width, info.height) >= min_side * factor:
            return factor
    return 1


def decode_sized(data: bytes, *, max_pixels: int | None = None, max_decode_pixels: int | None = None,
                 min_side: int | None = None, info: ImageInfo | None = None) -> tuple[np.ndarray, float]:
    """Like decode_image, also returning `scale` = original width / returned width (1.0 if not
    downscaled): multiply boxes found on the returned image by it. With `min_side` (the long side a
    model resizes its input to), a large JPEG is decoded at 1/2, 1/4 or 1/8 where at least that many
    pixels remain on the long side (jpeg_reduction): a 12 MP photo for a 640 px model decodes at a
    quarter of the size, several times faster. `info`: what probe() already said of `data` (it is not
    read twice)."""
    info = info or probe(data, max_decode_pixels=max_decode_pixels)
    buf = np.frombuffer(data, dtype=np.uint8)
    flag = _REDUCED[jpeg_reduction(info, max_pixels=max_pixels, min_side=min_side)]
    try:
        bgr = cv2.imdecode(buf, flag)
    except cv2.error as exc:
        raise Invalid("the image is corrupt and cannot be decoded") from exc
    if bgr is None or bgr.size == 0:
        bgr = _decode_with_pil(data)
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.shape[2] == 3 else cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    dh, dw = rgb.shape[:2]
    rotated = info.width != info.height and (dw > dh) != (info.width > info.height)  # EXIF orientation
    orig_w = info.height if rotated else info.width
    if max_pixels:
        rgb = fit_pixels(rgb, max_pixels)
    return rgb, orig_w / rgb.shape[1]


def _decode_with_pil(data: bytes) -> np.ndarray:
    """Fallback for what OpenCV's build cannot read (some webp/bmp variants); BGR out."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rgb = np.asarray(im.convert("RGB"))
    except Exception as exc:  # truncated or corrupt data surfaces here as many exception types
        raise Invalid("the image is corrupt and cannot be decoded") from exc
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def fit_pixels(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """Downscale (area interpolation) so that width x height <= max_pixels; unchanged if it fits."""
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return image
    factor = math.sqrt(max_pixels / (h * w))
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(image_rgb: np.ndarray, quality: int = 80) -> bytes:
    return encode_jpeg_bgr(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), quality)


def encode_jpeg_bgr(image_bgr: np.ndarray, quality: int = 80) -> bytes:
    """JPEG of an image in OpenCV's channel order (no conversion)."""
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise Invalid("cannot encode image")
    return buf.tobytes()


def scale_boxes(dets: list[dict[str, Any]], sx: float, sy: float | None = None) -> list[dict[str, Any]]:
    """Scale detection dicts found on a downscaled image back to its own pixels, in place: the `bbox`,
    and a segmentation's `polygon` and `mask_area` where present; returns `dets`."""
    sy = sx if sy is None else sy
    if sx == 1.0 and sy == 1.0:
        return dets
    for det in dets:
        box = det["bbox"]
        box["x1"], box["x2"] = box["x1"] * sx, box["x2"] * sx
        box["y1"], box["y2"] = box["y1"] * sy, box["y2"] * sy
        if det.get("polygon"):
            det["polygon"] = [[round(x * sx, 1), round(y * sy, 1)] for x, y in det["polygon"]]
        if det.get("mask_area"):
            det["mask_area"] = int(round(det["mask_area"] * sx * sy))
    return dets
