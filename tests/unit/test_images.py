"""raysight.imaging: decoding, validation and downscaling of uploaded images."""

from __future__ import annotations

import io

import cv2
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


def _jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(5)
    small = Image.fromarray(rng.integers(0, 255, (height // 40, width // 40, 3), dtype=np.uint8))
    buf = io.BytesIO()
    small.resize((width, height), Image.BILINEAR).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize(("side", "long_side"), [(128, 200), (200, 200), (201, 400), (640, 800), (900, 1600),
                                                 (None, 1600)])
def test_a_jpeg_for_a_smaller_model_input_is_decoded_smaller(side: int | None, long_side: int) -> None:
    """A 1600x1200 JPEG for a model that resizes to `side`: decoded at 1/8, 1/4 or 1/2 where at least
    `side` pixels remain on the long side, with the scale that brings boxes back to 1600x1200."""
    full = images.decode_sized(_jpeg(1600, 1200))[0]
    image, scale = images.decode_sized(_jpeg(1600, 1200), min_side=side)
    assert image.shape == (long_side * 3 // 4, long_side, 3) and scale == 1600 / long_side
    # the same picture, only smaller: the full decode resized alike is within a few grey levels
    resized = cv2.resize(full, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(resized.astype(int) - image.astype(int)).mean() < 4


def test_only_jpegs_are_decoded_smaller() -> None:
    png = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 20, 30)).save(png, format="PNG")
    image, scale = images.decode_sized(png.getvalue(), min_side=128)
    assert image.shape == (1200, 1600, 3) and scale == 1.0


def test_boxes_polygons_and_mask_areas_are_scaled_back() -> None:
    dets = [{"bbox": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0}, "polygon": [[1.0, 2.0], [3.0, 4.0]],
             "mask_area": 10},
            {"bbox": {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0}}]
    images.scale_boxes(dets, 4.0)
    assert dets[0] == {"bbox": {"x1": 4.0, "y1": 8.0, "x2": 12.0, "y2": 16.0}, "polygon": [[4.0, 8.0], [12.0, 16.0]],
                       "mask_area": 160}
    assert dets[1] == {"bbox": {"x1": 0.0, "y1": 0.0, "x2": 4.0, "y2": 4.0}}


def test_a_probed_image_is_not_probed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU replica probes an upload before its model loads and hands that ImageInfo to the decode."""
    data = _jpeg(1600, 1200)
    info = images.probe(data)

    def no_second_probe(*_: object, **__: object) -> None:
        raise AssertionError("probed twice")

    monkeypatch.setattr(images, "probe", no_second_probe)
    image, scale = images.decode_sized(data, min_side=640, info=info)
    assert image.shape == (600, 800, 3) and scale == 2.0
