"""Generated documents for the filerec tests: pages of large printed words (images and a
multi-page PDF drawn with PIL) packed into zips."""

from __future__ import annotations

import io
import zipfile

from PIL import Image, ImageDraw

from tests.imgseg_gen import font


def page(lines: list[str], size: tuple[int, int] = (900, 400)) -> Image.Image:
    """A white page with each line in 40 px black type."""
    im = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(im)
    fnt = font(40)
    for i, text in enumerate(lines):
        draw.text((40, 40 + i * 90), text, font=fnt, fill=(0, 0, 0))
    return im


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def pdf(pages: list[Image.Image]) -> bytes:
    buf = io.BytesIO()
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=72.0)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
