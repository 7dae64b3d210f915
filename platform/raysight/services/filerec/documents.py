"""What a file of a package is (image, PDF, something else) and its pages as RGB arrays.

PDF pages are rendered with pypdfium2 (PDFium). PDFium is not thread-safe, so every call into it
holds one process-wide lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raysight.errors import Invalid
from raysight.imaging import MAX_INFER_PIXELS, decode_sized

IMAGE, PDF, OTHER = "image", "pdf", "other"
PDF_SCALE = 2.0  # 144 dpi: PP-OCR reads 10-12 pt text reliably at this size
MAX_PDF_PAGES = 200
_pdfium = threading.Lock()


@dataclass
class Page:
    number: int  # 1-based
    image: np.ndarray  # RGB uint8
    scale: float  # multiply boxes found on `image` by this for the file's own pixels (images only)
    dpi: int | None = None  # PDF pages: boxes are pixels of the page rendered at this resolution


def kind_of(path: Path) -> str:
    """IMAGE, PDF or OTHER from the file's first bytes (never from its name)."""
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"%PDF-"):
        return PDF
    if (head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:2] == b"BM"
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        return IMAGE
    return OTHER


def image_page(path: Path, *, max_decode_pixels: int) -> Page:
    """The single page of an image file (Invalid if it cannot be decoded, TooLarge above
    `max_decode_pixels`, RAYSIGHT_MAX_IMAGE_PIXELS)."""
    image, scale = decode_sized(path.read_bytes(), max_pixels=MAX_INFER_PIXELS, max_decode_pixels=max_decode_pixels)
    return Page(number=1, image=image, scale=scale)


@contextmanager
def _pdf(path: Path) -> Iterator[Any]:
    """The open PDF document, under the process-wide PDFium lock; Invalid if it cannot be opened."""
    import pypdfium2 as pdfium

    with _pdfium:
        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            raise Invalid(f"the PDF cannot be opened: {exc}") from exc
        try:
            yield doc
        finally:
            doc.close()


def pdf_page_count(path: Path) -> int:
    with _pdf(path) as doc:
        return len(doc)


def render_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    """PDF_SCALE, lowered so that a page of that size (in points) renders to at most `max_pixels`:
    a page's size is the file's word, and a huge one would otherwise allocate any bitmap it asks for."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    return min(PDF_SCALE, math.sqrt(max_pixels / area))


def render_pdf_page(path: Path, index: int, *, max_pixels: int = MAX_INFER_PIXELS) -> Page:
    """Page `index` (0-based) of a PDF rendered at PDF_SCALE (less for pages above `max_pixels`)."""
    import pypdfium2 as pdfium

    with _pdf(path) as doc:
        try:
            page = doc[index]
            try:
                scale = render_scale(*page.get_size(), max_pixels)
                bitmap = page.render(scale=scale)
                image = np.asarray(bitmap.to_pil().convert("RGB")).copy()
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise Invalid(f"page {index + 1} of the PDF cannot be rendered: {exc}") from exc
    return Page(number=index + 1, image=image, scale=1.0, dpi=round(72 * scale))


def page_indexes(count: int) -> Iterator[int]:
    yield from range(min(count, MAX_PDF_PAGES))

