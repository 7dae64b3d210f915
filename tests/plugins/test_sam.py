"""The SAM plugin with MobileSAM (vit_t): the backend serves only real weights files (a freshly built
model's state dict saved under the official name stands in for one); the mechanics (embedding
cache, prompts) run on a fresh runtime built directly."""

from __future__ import annotations

import numpy as np
import pytest

from raysight.plugin import ModelRef, rle
from raysight_sam import predict
from raysight_sam.backend import SamBackend, WeightsMissing
from raysight_sam.predict import PromptError
from tests.imgseg_gen import png_bytes, screenshot


@pytest.fixture(scope="module")
def sam() -> tuple[SamBackend, object]:
    backend = SamBackend()
    return backend, predict.load("vit_t", None, device="cpu")


def test_builtin_refs() -> None:
    b = SamBackend()
    assert b.builtin_ref("builtin:sam:vit_b").params["model_type"] == "vit_b"
    assert b.builtin_ref("builtin:sam:nope") is None
    assert b.builtin_ref("builtin:ocr") is None


def test_checkpoint_from_weights_dir(tmp_path, sam) -> None:
    import torch

    from raysight_sam.backend import checkpoint_of

    backend, rt = sam
    ref = backend.builtin_ref("builtin:sam:vit_t")
    ref = ModelRef(ref.model_id, ref.weights_path, ref.classes, ref.params, weights_dir=str(tmp_path))
    assert checkpoint_of(ref) is None
    with pytest.raises(WeightsMissing, match="mobile_sam.pt") as missing:
        backend.load(ref, device="cpu")  # never random weights posing as SAM
    assert missing.value.code == "weights_missing"
    torch.save(rt.model.state_dict(), tmp_path / "mobile_sam.pt")
    loaded = backend.load(ref, device="cpu")
    assert loaded.weights == "trained" and loaded.model_type == "vit_t"
    image = np.zeros((64, 96, 3), np.uint8)
    assert backend.run(loaded, "info", {})["segmenter"] == "sam-vit_t"
    # the file replaced: reloaded in place; removed: the runtime stops answering
    state = {k: v + 1 if v.is_floating_point() else v for k, v in rt.model.state_dict().items()}
    torch.save(state, tmp_path / "mobile_sam.pt")
    import os

    os.utime(tmp_path / "mobile_sam.pt", ns=(1, 1))
    backend.run(loaded, "info", {})
    first = next(iter(state))
    assert torch.equal(loaded.model.state_dict()[first], state[first])
    (tmp_path / "mobile_sam.pt").unlink()
    with pytest.raises(WeightsMissing):
        backend.run(loaded, "prompt", {"image": image, "points": [[5, 5]]})


def test_embed_cache_and_prompts(sam) -> None:
    backend, rt = sam
    image, _ = screenshot(640, 360)
    first = backend.run(rt, "embed", {"image": image})
    assert first["weights"] == "untrained" and first["cached"] is False
    again = backend.run(rt, "embed", {"image": png_bytes(image)})  # same pixels, other encoding
    assert again["cached"] is True and again["image_hash"] == first["image_hash"]
    res = backend.run(rt, "prompt", {"image_hash": first["image_hash"], "points": [[100, 200]], "labels": [1]})
    assert res["cached"] is True and len(res["masks"]) == 1
    m = res["masks"][0]
    mask = rle.decode(m["rle"])
    assert mask.shape == (360, 640) and int(mask.sum()) == m["area"]
    boxes = backend.run(rt, "prompt", {"image_hash": first["image_hash"], "boxes": [[10, 10, 200, 100],
                                                                                      [300, 50, 400, 150]],
                                       "return_masks": False})
    assert [b["prompt_box"] for b in boxes["masks"]] == [[10, 10, 200, 100], [300, 50, 400, 150]]
    assert all(len(b["bbox"]) == 4 for b in boxes["masks"])


@pytest.mark.parametrize("payload", [
    {"points": [[1, 2, 3]]}, {"points": [[10, 10]], "labels": [3]}, {"points": [[5000, 10]]},
    {"boxes": [[10, 10, 5, 5]]}, {},
])
def test_bad_prompts(sam, payload) -> None:
    backend, rt = sam
    image = np.zeros((64, 96, 3), np.uint8)
    with pytest.raises(PromptError):
        backend.run(rt, "prompt", {"image": image, **payload})


def test_auto_masks_structure(sam) -> None:
    backend, rt = sam
    image, _ = screenshot(320, 180)
    res = backend.run(rt, "auto_masks", {"image": image, "points_per_side": 4, "pred_iou_thresh": 0.0,
                                         "stability_score_thresh": 0.0, "return_masks": True})
    assert res["candidates"] == 48 and res["size"] == [180, 320]
    for m in res["masks"]:
        x, y, w, h = m["bbox"]
        assert 0 <= x < 320 and 0 <= y < 180 and w > 0 and h > 0
        assert rle.decode(m["rle"]).shape == tuple(res["mask_size"])
    # the native API's view (detections of class "mask") names the segmenter too
    from raysight.plugin import PredictOptions

    extra = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    dets = backend.predict(rt, [image], PredictOptions(conf=0.0, extra=extra))[0]
    assert len(dets) == len(res["masks"]) and all(d.extra["segmenter"] == "sam-vit_t" for d in dets)


def test_rle_roundtrip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.random((17, 23)) > 0.5
        assert (rle.decode(rle.encode(m)) == m).all()


def test_mask_box_matches_the_pixels() -> None:
    from raysight_sam.predict import _mask_box

    mask = np.zeros((50, 80), dtype=bool)
    assert _mask_box(mask) == [0, 0, 0, 0]
    mask[7:19, 30:31] = True
    mask[40, 65] = True
    ys, xs = np.nonzero(mask)
    assert _mask_box(mask) == [30, 7, 65 - 30 + 1, 40 - 7 + 1] == [
        int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
