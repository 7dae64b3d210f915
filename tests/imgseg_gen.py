"""Generated UI screenshots for the imgseg tests: widgets drawn with PIL in a known layout.

`screenshot()` returns the RGB image and the ground truth (type, box, text) of each widget;
`widget_crop()` draws one random widget of a given type for component-classifier training.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
)
LABELS = ("Bar", "Button", "Image", "Input", "Text")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@dataclass
class Widget:
    type: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2
    text: str = ""


def _centered_text(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, fnt, fill) -> None:
    x1, y1, x2, y2 = box
    x0, t, r, b = draw.textbbox((0, 0), text, font=fnt)
    draw.text((x1 + (x2 - x1 - (r - x0)) / 2 - x0, y1 + (y2 - y1 - (b - t)) / 2 - t), text, font=fnt, fill=fill)


def _image_block(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x1, y1, x2, y2 = box
    for i in range(y2 - y1):
        c = int(80 + 120 * i / max(1, y2 - y1))
        draw.line([(x1, y1 + i), (x2 - 1, y1 + i)], fill=(c, 140, 255 - c))
    for _ in range(4):
        cx, cy = rng.randint(x1 + 15, x2 - 15), rng.randint(y1 + 15, y2 - 15)
        r = rng.randint(6, 14)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(rng.randint(0, 255), rng.randint(0, 255), 60))


def screenshot(width: int = 1280, height: int = 720, seed: int = 0) -> tuple[np.ndarray, list[Widget]]:
    """A login-form-like page: a top bar with a title, a heading, two labelled inputs, two buttons,
    a picture and a paragraph line."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (246, 247, 250))
    d = ImageDraw.Draw(img)
    widgets: list[Widget] = []
    f_title, f_body, f_head = font(26), font(22), font(28)

    bar = (0, 0, width, 64)
    d.rectangle([0, 0, width - 1, 63], fill=(32, 56, 100))
    d.text((32, 18), "Dashboard", font=f_title, fill=(255, 255, 255))
    widgets.append(Widget("Bar", bar, "Dashboard"))

    d.text((120, 110), "Welcome back", font=f_head, fill=(30, 30, 30))
    x0, t, r, b = d.textbbox((120, 110), "Welcome back", font=f_head)
    widgets.append(Widget("Text", (x0, t, r, b), "Welcome back"))

    for i, (label, placeholder) in enumerate((("Username", "Enter your name"), ("Password", "Enter password"))):
        y = 190 + i * 110
        d.text((120, y), label, font=f_body, fill=(60, 60, 60))
        x0, t, r, b = d.textbbox((120, y), label, font=f_body)
        widgets.append(Widget("Text", (x0, t, r, b), label))
        box = (120, y + 36, 560, y + 84)
        d.rounded_rectangle([box[0], box[1], box[2] - 1, box[3] - 1], radius=6, fill=(255, 255, 255),
                            outline=(150, 156, 170), width=2)
        d.text((box[0] + 14, box[1] + 12), placeholder, font=f_body, fill=(130, 130, 130))
        widgets.append(Widget("Input", box, placeholder))

    for text, x, fill in (("Submit", 120, (37, 128, 254)), ("Cancel", 340, (220, 72, 60))):
        box = (x, 440, x + 190, 492)
        d.rounded_rectangle([box[0], box[1], box[2] - 1, box[3] - 1], radius=8, fill=fill)
        _centered_text(d, box, text, f_body, (255, 255, 255))
        widgets.append(Widget("Button", box, text))

    pic = (760, 140, 1160, 440)
    _image_block(d, pic, rng)
    widgets.append(Widget("Image", pic, ""))

    d.text((760, 480), "Forgot your password", font=f_body, fill=(37, 90, 200))
    x0, t, r, b = d.textbbox((760, 480), "Forgot your password", font=f_body)
    widgets.append(Widget("Text", (x0, t, r, b), "Forgot your password"))
    return np.asarray(img), widgets


WORDS = ("OK", "Save", "Login", "Next", "Search", "Email", "Open", "Home", "Profile", "Send", "Apply", "Close",
         "Name", "Total", "Price", "Hello", "Menu", "Edit", "Share", "Back")


def widget_crop(kind: str, rng: random.Random) -> Image.Image:
    """One widget of `kind` drawn alone on a small canvas (as a component crop looks)."""
    if kind == "Bar":
        w, h = rng.randint(300, 700), rng.randint(40, 70)
    elif kind == "Button":
        w, h = rng.randint(90, 220), rng.randint(36, 60)
    elif kind == "Input":
        w, h = rng.randint(220, 480), rng.randint(36, 56)
    elif kind == "Image":
        w, h = rng.randint(80, 300), rng.randint(80, 240)
    else:
        w, h = rng.randint(80, 300), rng.randint(30, 48)
    bg = tuple(rng.randint(235, 255) for _ in range(3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    f = font(rng.randint(16, 24))
    word = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2)))
    if kind == "Bar":
        fill = (rng.randint(10, 80), rng.randint(30, 90), rng.randint(80, 160))
        d.rectangle([0, 0, w - 1, h - 1], fill=fill)
        d.text((16, h / 2 - 12), word, font=f, fill=(255, 255, 255))
    elif kind == "Button":
        fill = (rng.randint(20, 230), rng.randint(40, 160), rng.randint(120, 255))
        d.rounded_rectangle([0, 0, w - 1, h - 1], radius=rng.randint(3, 12), fill=fill)
        _centered_text(d, (0, 0, w, h), word, f, (255, 255, 255))
    elif kind == "Input":
        d.rounded_rectangle([0, 0, w - 1, h - 1], radius=rng.randint(0, 8), fill=(255, 255, 255),
                            outline=tuple(rng.randint(120, 190) for _ in range(3)), width=rng.randint(1, 2))
        d.text((10, h / 2 - 12), word, font=f, fill=(140, 140, 140))
    elif kind == "Image":
        _image_block(d, (0, 0, w, h), rng)
    else:
        d.text((4, h / 2 - 12), word, font=f, fill=tuple(rng.randint(0, 90) for _ in range(3)))
    return img


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
