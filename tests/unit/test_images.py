"""raysight.imaging: decoding, validation and downscaling of uploaded images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from raysight import imaging as images
from raysight.errors import Invalid, TooLarge


def _encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_decode_formats_as_rgb(fmt: str) -> None:
    im = Image.new("RGB", (40, 30), (200, 10, 20))
    rgb = images.decode_image(_encode(im, fmt))
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    r, g, b = rgb[15, 20].tolist()
    assert r > 150 and g < 60 and b < 60  # RGB order, not BGR


def test_grey_and_alpha_images_become_rgb() -> None:
    assert images.decode_image(_encode(Image.new("L", (8, 8), 128), "PNG")).shape == (8, 8, 3)
    assert images.decode_image(_encode(Image.new("RGBA", (8, 8), (1, 2, 3, 4)), "PNG")).shape == (8, 8, 3)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_garbage_is_invalid(data: bytes) -> None:
    with pytest.raises(Invalid):
        images.decode_image(data)


def test_truncated_jpeg_is_invalid_or_decodes() -> None:
    data = _encode(Image.new("RGB", (64, 64), (0, 255, 0)), "JPEG")
    with pytest.raises(Invalid):
        images.decode_image(data[:20])


def test_unsupported_format_is_invalid() -> None:
    with pytest.raises(Invalid, match="unsupported"):
        images.decode_image(_encode(Image.new("RGB", (8, 8)), "GIF"))
    with pytest.raises(Invalid, match="unsupported"):
        images.decode_image(_encode(Image.new("RGB", (8, 8)), "TIFF"))


def test_large_image_is_downscaled_with_scale() -> None:
    im = Image.new("RGB", (4000, 3000), (10, 20, 30))
    data = _encode(im, "JPEG")
    rgb, scale = images.decode_sized(data, max_pixels=1_000_000)
    assert rgb.shape[0] * rgb.shape[1] <= 1_000_000
    assert scale == pytest.approx(4000 / rgb.shape[1])
    assert rgb.shape[1] / rgb.shape[0] == pytest.approx(4 / 3, rel=0.01)
    full, one = images.decode_sized(data)
    assert full.shape == (3000, 4000, 3) and one == 1.0


def test_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_DECODE_PIXELS", 100 * 100)
    with pytest.raises(TooLarge):
        images.decode_image(_encode(Image.new("RGB", (200, 200)), "PNG"))


def test_fit_pixels_keeps_small_images() -> None:
    small = np.zeros((10, 10, 3), np.uint8)
    assert images.fit_pixels(small, 1000) is small
    assert images.fit_pixels(np.zeros((100, 200, 3), np.uint8), 5000).shape[:2] == (50, 100)


def test_jpeg_round_trip() -> None:
    rgb = np.full((16, 16, 3), (255, 0, 0), np.uint8)
    back = images.decode_image(images.encode_jpeg(rgb))
    assert back[8, 8, 0] > 200 and back[8, 8, 2] < 60


def test_an_annotated_video_frame_is_bgr_with_the_palettes_colours() -> None:
    from raysight.services.video import PALETTE, annotate_bgr

    frame = np.zeros((600, 900, 3), np.uint8)
    frame[..., 0] = 30  # a reddish RGB frame: the copy must come out in OpenCV's order
    det = {"class_id": 2, "class_name": "c", "confidence": 0.9,
           "bbox": {"x1": 100, "y1": 200, "x2": 400, "y2": 500}}
    out = annotate_bgr(frame, [det])
    assert out.shape == frame.shape and not np.shares_memory(out, frame) and int(frame.sum()) == 30 * 600 * 900
    assert tuple(out[5, 5]) == (0, 0, 30)  # an untouched pixel, BGR
    assert tuple(out[350, 100][::-1]) == PALETTE[2]  # the box's left edge, back in RGB: the palette's colour
    back = images.decode_image(images.encode_jpeg_bgr(out))  # decodes as RGB
    assert np.abs(back[350, 100].astype(int) - PALETTE[2]).max() < 40 and abs(int(back[5, 5][0]) - 30) < 8
