"""SAM serving: one loaded model plus its embedding cache, and the operations the backend runs.

Operations (``SamBackend.run(model, op, payload)``); every image argument is an RGB uint8 array or
encoded PNG/JPEG bytes, or ``image_hash`` naming an image whose embedding is cached:

- ``embed``      compute (or find) the image embedding; returns its hash.
- ``prompt``     points / labels / boxes -> masks (full-resolution RLE, box, score).
- ``auto_masks`` a grid of point prompts decoded in batches, post-processed at the decoder's
                 low resolution (256 px long side) instead of the image's, then NMS; returns boxes,
                 scores and low-resolution RLE masks. This is what makes automatic segmentation
                 affordable on a CPU (the stock generator upsamples every candidate to full size).
- ``info``       model type, whether weights are trained, cache statistics.

Every answer names its ``segmenter`` ("sam-vit_t"...). A runtime loaded from a weights file checks
the file before each operation: gone -> WeightsMissing (never an answer from weights that are no
longer there), replaced (e.g. by ``raysight weights``) -> reloaded in place.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raysight.plugin import Invalid, RunOp, WeightsMissing, rle
from raysight_sam.build import build
from raysight_sam.cache import Embedding, EmbeddingCache, content_hash


class PromptError(Invalid):
    """A prompt that cannot be used (wrong shape, out of the image...). A domain error, so it
    survives the trip back from a replica and the dialects map it (imgseg: 806)."""

    code = "bad_prompt"


@dataclass
class SamRuntime:
    model: Any
    model_type: str
    trained: bool
    device: str
    checkpoint: str | None = None
    checkpoint_sig: tuple[int, int] | None = None  # (mtime_ns, size) of the file the weights came from
    cache: EmbeddingCache = field(default_factory=EmbeddingCache)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dense_pe: Any = None  # the prompt encoder's positional encoding of the embedding grid, computed once

    @property
    def weights(self) -> str:
        return "trained" if self.trained else "untrained"

    @property
    def segmenter(self) -> str:
        return f"sam-{self.model_type}"

    def describe(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "weights": self.weights, "checkpoint": self.checkpoint,
                "segmenter": self.segmenter}


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def load(model_type: str, checkpoint: Path | None, *, device: str, cache_size: int = 8) -> SamRuntime:
    """A runtime for `model_type`; without `checkpoint` the weights are fresh (the plugin's tests
    use that; SamBackend.load never serves it)."""
    model, trained = build(model_type, checkpoint)
    model.to(device)
    return SamRuntime(
        model=model, model_type=model_type, trained=trained, device=device,
        checkpoint=str(checkpoint) if trained else None, cache=EmbeddingCache(cache_size),
        checkpoint_sig=_signature(Path(checkpoint)) if trained and checkpoint else None,
    )


def check_weights(rt: SamRuntime) -> None:
    """For a runtime loaded from a file: WeightsMissing if the file is gone, a reload if it changed."""
    if not rt.checkpoint:
        return
    from raysight_sam.build import load_state

    path = Path(rt.checkpoint)
    sig = _signature(path)
    if sig is None:
        raise WeightsMissing(f"the SAM weights file {path.name} was removed from the weights folder")
    if sig != rt.checkpoint_sig:
        with rt.lock:
            load_state(rt.model, path)
            rt.model.to(rt.device)
            rt.cache = EmbeddingCache(rt.cache.capacity)
            rt.dense_pe = None
            rt.checkpoint_sig = sig


# -- images and embeddings ---------------------------------------------------------------------
def as_rgb(image: Any) -> np.ndarray:
    if isinstance(image, (bytes, bytearray, memoryview)):
        import cv2

        arr = cv2.imdecode(np.frombuffer(bytes(image), np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            raise PromptError("the image could not be decoded")
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise PromptError("the image must be an HxWx3 RGB array")
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8, copy=False))


def _transform(rt: SamRuntime) -> Any:
    from segment_anything.utils.transforms import ResizeLongestSide

    return ResizeLongestSide(rt.model.image_encoder.img_size)


@torch.inference_mode()
def embed(rt: SamRuntime, payload: dict[str, Any]) -> tuple[str, Embedding, bool]:
    """(hash, embedding, whether it came from the cache)."""
    key = payload.get("image_hash")
    if payload.get("image") is None:
        if not key:
            raise PromptError("an image or an image_hash is required")
        cached = rt.cache.get(key)
        if cached is None:
            raise PromptError(f"no cached embedding for image_hash '{key}': send the image")
        return key, cached, True
    image = as_rgb(payload["image"])
    key = content_hash(image)
    cached = rt.cache.get(key)
    if cached is not None:
        return key, cached, True
    transform = _transform(rt)
    resized = transform.apply_image(image)
    tensor = torch.as_tensor(resized, device=rt.device).permute(2, 0, 1).contiguous()[None, :, :, :]
    with rt.lock:
        features = rt.model.image_encoder(rt.model.preprocess(tensor))
    emb = Embedding(
        features=features, original_size=(image.shape[0], image.shape[1]),
        input_size=(int(tensor.shape[-2]), int(tensor.shape[-1])), image=image,
    )
    rt.cache.put(key, emb)
    return key, emb, False


# -- prompts ---------------------------------------------------------------------------------
def _check_prompt(points: Any, labels: Any, boxes: Any, size: tuple[int, int]) -> tuple[
    np.ndarray | None, np.ndarray | None, np.ndarray | None
]:
    h, w = size
    pts = lbl = bxs = None
    if points:
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise PromptError("points must be a list of [x, y]")
        lbl = np.asarray(labels if labels is not None else [1] * len(pts), dtype=np.int64)
        if lbl.shape != (len(pts),) or not np.isin(lbl, (0, 1)).all():
            raise PromptError("labels must hold one 0/1 value per point")
        if (pts < 0).any() or (pts[:, 0] >= w).any() or (pts[:, 1] >= h).any():
            raise PromptError("a point lies outside the image")
    if boxes:
        bxs = np.asarray(boxes, dtype=np.float32)
        if bxs.ndim == 1:
            bxs = bxs[None, :]
        if bxs.ndim != 2 or bxs.shape[1] != 4:
            raise PromptError("boxes must be [x1, y1, x2, y2] or a list of them")
        if (bxs[:, 2] <= bxs[:, 0]).any() or (bxs[:, 3] <= bxs[:, 1]).any():
            raise PromptError("a box needs x2 > x1 and y2 > y1")
        bxs[:, [0, 2]] = bxs[:, [0, 2]].clip(0, w)
        bxs[:, [1, 3]] = bxs[:, [1, 3]].clip(0, h)
    if pts is None and bxs is None:
        raise PromptError("a prompt needs points or boxes")
    return pts, lbl, bxs


def _mask_box(mask: np.ndarray) -> list[int]:
    """[x, y, w, h] of the mask's pixels, from its row and column projections (no full nonzero scan)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def _dense_pe(rt: SamRuntime) -> torch.Tensor:
    """The prompt encoder's positional encoding of the embedding grid: the same for every prompt."""
    if rt.dense_pe is None:
        rt.dense_pe = rt.model.prompt_encoder.get_dense_pe()
    return rt.dense_pe


@torch.inference_mode()
def _decode(rt: SamRuntime, emb: Embedding, coords: torch.Tensor | None, labels: torch.Tensor | None,
            boxes: torch.Tensor | None, multimask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-resolution logits (B, K, 256, 256) and predicted IoU (B, K) for prompts already in
    the model's input frame."""
    sam = rt.model
    points = (coords, labels) if coords is not None else None
    sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=None)
    return sam.mask_decoder(
        image_embeddings=emb.features, image_pe=_dense_pe(rt),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask,
    )


@torch.inference_mode()
def prompt(rt: SamRuntime, payload: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    key, emb, cached = embed(rt, payload)
    t1 = time.perf_counter()
    pts, lbl, bxs = _check_prompt(payload.get("points"), payload.get("labels"), payload.get("boxes"), emb.original_size)
    transform = _transform(rt)
    n = 1 if bxs is None else len(bxs)
    coords = labels = boxes = None
    if pts is not None:
        c = transform.apply_coords(pts, emb.original_size)
        coords = torch.as_tensor(c, device=rt.device)[None].repeat(n, 1, 1)
        labels = torch.as_tensor(lbl, device=rt.device)[None].repeat(n, 1)
    if bxs is not None:
        boxes = torch.as_tensor(transform.apply_boxes(bxs, emb.original_size), device=rt.device)
    # One ambiguous point: let SAM offer three masks and keep the best, as its authors advise.
    multimask = bool(payload.get("multimask", bxs is None and pts is not None and len(pts) == 1))
    want_masks = bool(payload.get("return_masks", True))
    # Small chunks: on a CPU the decoder's per-prompt cost grows with the batch (memory traffic).
    chunk = int(payload.get("prompts_per_batch") or (64 if str(rt.device).startswith("cuda") else 2))
    hl, wl = math.ceil(emb.input_size[0] / 4), math.ceil(emb.input_size[1] / 4)
    H, W = emb.original_size
    masks = []
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        with rt.lock:
            low, iou = _decode(rt, emb, None if coords is None else coords[sl], None if labels is None else labels[sl],
                               None if boxes is None else boxes[sl], multimask)
            best = iou.argmax(dim=1)
            idx = torch.arange(low.shape[0])
            low, iou = low[idx, best][:, None], iou[idx, best]
            if want_masks:
                up = rt.model.postprocess_masks(low, emb.input_size, emb.original_size)
                full = up[:, 0] > rt.model.mask_threshold
        if not want_masks:
            small = low[:, 0, :hl, :wl] > rt.model.mask_threshold
            lboxes = _boxes_of(small.cpu())
            sx, sy = W / wl, H / hl
        for j in range(low.shape[0]):
            i = start + j
            if want_masks:
                m = full[j].cpu().numpy()
                item: dict[str, Any] = {"bbox": _mask_box(m), "score": round(float(iou[j]), 4), "area": int(m.sum()),
                                        "rle": rle.encode(m)}
            else:
                area = int(small[j].sum())
                x1, y1, x2, y2 = lboxes[j].tolist()
                bx = [int(x1 * sx), int(y1 * sy), min(W, math.ceil((x2 + 1) * sx)), min(H, math.ceil((y2 + 1) * sy))]
                item = {"bbox": [bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1]] if area else [0, 0, 0, 0],
                        "score": round(float(iou[j]), 4), "area": int(area * sx * sy)}
            if bxs is not None:
                item["prompt_box"] = [float(v) for v in bxs[i]]
            masks.append(item)
    t2 = time.perf_counter()
    return {
        "image_hash": key, "cached": cached, "weights": rt.weights, "model_type": rt.model_type,
        "segmenter": rt.segmenter, "size": list(emb.original_size), "masks": masks,
        "timings": {"embed_s": round(t1 - t0, 4), "decode_s": round(t2 - t1, 4)},
    }


# -- automatic masks -------------------------------------------------------------------------
def _boxes_of(masks: torch.Tensor) -> torch.Tensor:
    """XYXY boxes (inclusive max) of a (N, h, w) bool tensor; empty masks give zeros."""
    n, h, w = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    y2 = (rows * ar_h).amax(dim=1)
    y1 = torch.where(rows, ar_h, h).amin(dim=1)
    x2 = (cols * ar_w).amax(dim=1)
    x1 = torch.where(cols, ar_w, w).amin(dim=1)
    return torch.stack([x1, y1, x2, y2], dim=1).float()


@torch.inference_mode()
def auto_masks(rt: SamRuntime, payload: dict[str, Any]) -> dict[str, Any]:
    import torchvision

    t0 = time.perf_counter()
    key, emb, cached = embed(rt, payload)
    t1 = time.perf_counter()
    # The decoder costs ~50 ms a prompt on a CPU: a 32x32 grid would take a minute there.
    n_side = int(payload.get("points_per_side") or (32 if str(rt.device).startswith("cuda") else 8))
    if not 1 <= n_side <= 64:
        raise PromptError("points_per_side must be between 1 and 64")
    iou_thresh = float(payload.get("pred_iou_thresh", 0.86))
    stab_thresh = float(payload.get("stability_score_thresh", 0.9))
    nms_thresh = float(payload.get("box_nms_thresh", 0.7))
    min_area_frac = float(payload.get("min_area_frac", 0.0002))
    max_masks = int(payload.get("max_masks", 200))
    batch = int(payload.get("points_per_batch") or (64 if str(rt.device).startswith("cuda") else 4))
    with_masks = bool(payload.get("return_masks", False))

    H, W = emb.original_size
    grid = (np.arange(n_side, dtype=np.float32) + 0.5) / n_side
    pts = np.stack(np.meshgrid(grid * W, grid * H), axis=-1).reshape(-1, 2)
    transform = _transform(rt)
    coords_all = torch.as_tensor(transform.apply_coords(pts, emb.original_size), device=rt.device)
    hl = math.ceil(emb.input_size[0] / 4)
    wl = math.ceil(emb.input_size[1] / 4)
    sx, sy = W / wl, H / hl
    min_area = min_area_frac * hl * wl

    keep_masks, keep_boxes, keep_iou, keep_stab, keep_pts = [], [], [], [], []
    with rt.lock:
        for start in range(0, len(pts), batch):
            c = coords_all[start:start + batch][:, None, :]
            lab = torch.ones(c.shape[0], 1, dtype=torch.int64, device=rt.device)
            low, iou = _decode(rt, emb, c, lab, None, True)
            low = low[:, :, :hl, :wl].flatten(0, 1)
            iou = iou.flatten()
            point_idx = torch.arange(start, start + c.shape[0]).repeat_interleave(3)
            thr = rt.model.mask_threshold
            inter = (low > thr + 1.0).sum(dim=(1, 2)).float()
            union = (low > thr - 1.0).sum(dim=(1, 2)).float().clamp(min=1)
            stab = inter / union
            masks = low > thr
            area = masks.sum(dim=(1, 2)).float()
            ok = (iou > iou_thresh) & (stab > stab_thresh) & (area > min_area) & (area < 0.95 * hl * wl)
            if not ok.any():
                continue
            keep_masks.append(masks[ok].cpu())
            keep_boxes.append(_boxes_of(masks[ok].cpu()))
            keep_iou.append(iou[ok].cpu())
            keep_stab.append(stab[ok].cpu())
            keep_pts.append(point_idx[ok.cpu()])
    result: list[dict[str, Any]] = []
    if keep_masks:
        masks = torch.cat(keep_masks)
        boxes = torch.cat(keep_boxes)
        ious = torch.cat(keep_iou)
        stabs = torch.cat(keep_stab)
        pidx = torch.cat(keep_pts)
        order = torchvision.ops.nms(boxes, ious, nms_thresh)[:max_masks]
        for i in order.tolist():
            x1, y1, x2, y2 = boxes[i].tolist()
            bx = [int(x1 * sx), int(y1 * sy), int(math.ceil((x2 + 1) * sx)), int(math.ceil((y2 + 1) * sy))]
            item: dict[str, Any] = {
                "bbox": [bx[0], bx[1], min(W, bx[2]) - bx[0], min(H, bx[3]) - bx[1]],
                "area": int(masks[i].sum().item() * sx * sy),
                "predicted_iou": round(float(ious[i]), 4),
                "stability_score": round(float(stabs[i]), 4),
                "point": [float(v) for v in pts[int(pidx[i])]],
            }
            if with_masks:
                item["rle"] = rle.encode(masks[i].numpy())
            result.append(item)
    t2 = time.perf_counter()
    return {
        "image_hash": key, "cached": cached, "weights": rt.weights, "model_type": rt.model_type,
        "segmenter": rt.segmenter, "size": [H, W], "mask_size": [hl, wl], "masks": result,
        "candidates": int(len(pts) * 3),
        "timings": {"embed_s": round(t1 - t0, 4), "decode_s": round(t2 - t1, 4)},
    }


def run(rt: SamRuntime, op: str, payload: dict[str, Any]) -> Any:
    check_weights(rt)
    if op == RunOp.EMBED:
        t0 = time.perf_counter()
        key, emb, cached = embed(rt, payload)
        return {"image_hash": key, "cached": cached, "weights": rt.weights, "model_type": rt.model_type,
                "segmenter": rt.segmenter, "size": list(emb.original_size),
                "seconds": round(time.perf_counter() - t0, 4)}
    if op == RunOp.PROMPT:
        return prompt(rt, payload)
    if op == RunOp.AUTO_MASKS:
        return auto_masks(rt, payload)
    if op == "info":
        return {**rt.describe(), "cache": rt.cache.stats()}
    raise PromptError(f"sam has no operation '{op}'")
