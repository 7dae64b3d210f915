"""Video inference: decode frames, send them to the model in groups (one predict call and one batch per
group) with a window of frames in flight, annotate, and either encode a video or stream frames.

Encoding: browsers play H.264 in MP4. OpenCV writes it ('avc1') only when its FFmpeg build has an
H.264 encoder; the pip opencv-python wheels have none, so the fallback is VP8 in WebM (Chrome,
Firefox, Edge and Safari >= 14.1 play it), and 'mp4v' MP4 (MPEG-4 Part 2, most browsers will NOT
play it) only as the last resort. The response says which in `mime_type`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from raysight.context import Platform
from raysight.errors import Invalid, TooLarge
from raysight.imaging import encode_jpeg_bgr
from raysight.services import inference, tasks
from raysight.settings import Settings
from raysight.workspace import save_stream

log = logging.getLogger(__name__)

MAX_FRAMES = 100_000
# frames per predict call: one batch on a replica (the shipped yolo max_batch_size), a quarter of the calls
# and handle round trips of one call per frame (bench/serving.py's video figures)
FRAME_GROUP = 4
# (fourcc, suffix, mime) in order of preference: the first OpenCV can open wins
CODECS = (("avc1", ".mp4", "video/mp4"), ("VP80", ".webm", "video/webm"), ("mp4v", ".mp4", "video/mp4"))
PALETTE = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0))


@dataclass
class VideoSource:
    """An uploaded video on disk (in the workspace tmp folder), opened and checked."""

    path: Path
    fps: float
    frame_count: int  # as the container says (may be 0 or approximate)
    width: int
    height: int
    max_frames: int = MAX_FRAMES

    def frames(self) -> Iterator[np.ndarray]:
        """RGB frames, in order; TooLarge at frame `max_frames` + 1 (containers may understate their
        length) or at a frame larger than the first."""
        cap = cv2.VideoCapture(str(self.path))
        try:
            for _ in range(self.max_frames):
                ok, bgr = cap.read()
                if not ok:
                    return
                if bgr.shape[0] * bgr.shape[1] > self.width * self.height:
                    raise TooLarge("a video frame is larger than the first one")
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if cap.grab():
                raise TooLarge(f"the video has more than {self.max_frames} frames (RAYSIGHT_VIDEO_MAX_FRAMES)")
        finally:
            cap.release()

    def remove(self) -> None:
        """Delete the staging folder (input and any annotated output)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


async def open_video(*, ctx: Platform, read: inference.Reader, filename: str | None = None) -> VideoSource:
    """Stream the upload into the workspace tmp folder and check that it decodes (Invalid if not)."""
    suffix = Path(filename or "").suffix.lower()
    suffix = suffix if suffix in (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg") else ".mp4"
    folder = ctx.workspace.staging("video")
    path = folder / f"input{suffix}"
    try:
        size = await save_stream(read, path, max_bytes=ctx.settings.max_upload_bytes)
        if not size:
            raise Invalid("empty file: expected a video")
        source = await asyncio.to_thread(_probe_video, path)
        _check_limits(source, ctx.settings)
    except BaseException:
        ctx.workspace.remove(folder)
        raise
    return source


def _is_image(path: Path) -> bool:
    """FFmpeg happily 'plays' a still image as a one-frame video: refuse those."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return bool(im.format)
    except Exception:
        return False


def _check_limits(source: VideoSource, settings: Settings) -> None:
    """Frame size and (declared) frame count within the settings; frames() enforces the count again."""
    if source.width * source.height > settings.video_max_pixels:
        raise TooLarge(f"video frames of {source.width}x{source.height} are larger than "
                       f"{settings.video_max_pixels:,} pixels (RAYSIGHT_VIDEO_MAX_PIXELS)")
    if source.frame_count > settings.video_max_frames:
        raise TooLarge(f"the video has {source.frame_count} frames, more than {settings.video_max_frames} "
                       "(RAYSIGHT_VIDEO_MAX_FRAMES)")
    source.max_frames = min(MAX_FRAMES, settings.video_max_frames)


def _probe_video(path: Path) -> VideoSource:
    if _is_image(path):
        raise Invalid("the file is an image, not a video")
    source = None
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if ok and frame is not None and frame.size:
            source = VideoSource(
                path=path,
                fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0,
                frame_count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
                width=frame.shape[1],
                height=frame.shape[0],
            )
    finally:
        cap.release()
    if source is None:
        raise Invalid("the file is not a readable video")
    return source


def annotate_bgr(frame_rgb: np.ndarray, detections: list[dict[str, Any]]) -> np.ndarray:
    """Boxes and labels drawn on a BGR copy of the frame, what OpenCV's video writers and JPEG encoder
    take: the channel swap is the copy (OpenCV only: no font downloads). PALETTE is in RGB."""
    out = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    thickness = max(1, round(sum(out.shape[:2]) / 600))
    for det in detections:
        box = det["bbox"]
        p1, p2 = (int(box["x1"]), int(box["y1"])), (int(box["x2"]), int(box["y2"]))
        colour = PALETTE[int(det["class_id"]) % len(PALETTE)][::-1]
        cv2.rectangle(out, p1, p2, colour, thickness, cv2.LINE_AA)
        label = f"{det['class_name']} {det['confidence']:.2f}"
        scale = thickness / 3
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thickness - 1))
        top = p1[1] - th - 4 if p1[1] - th - 4 >= 0 else p1[1] + th + 4
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 2, top + th + 4), colour, -1, cv2.LINE_AA)
        cv2.putText(out, label, (p1[0] + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, thickness - 1), cv2.LINE_AA)
    return out


def open_writer(folder: Path, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, Path, str]:
    """The most browser-friendly writer this OpenCV build has (see the module docstring)."""
    for fourcc, suffix, mime in CODECS:
        path = folder / f"annotated{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, path, mime
        writer.release()
        path.unlink(missing_ok=True)
    raise Invalid("no video encoder is available in this OpenCV build")


async def detect_frames(
    *, ctx: Platform, model_id: str, source: VideoSource, opts: dict[str, Any], window: int = 16,
    group: int = FRAME_GROUP,
) -> AsyncIterator[tuple[int, np.ndarray, list[dict[str, Any]]]]:
    """(index, frame, detections) in frame order. Frames go to the model `group` at a time (one call, one
    batch on one replica) with up to `window` frames in flight, so that every replica always has a batch
    waiting. Cancelling the consumer cancels the calls. `opts`: inference.options (conf, iou, imgsz)."""
    backend, key = inference.resolve(ctx=ctx, model_id=model_id)
    pending: deque[tuple[int, list[np.ndarray], asyncio.Task[list[list[dict[str, Any]]]]]] = deque()
    frames = source.frames()
    index = in_flight = 0
    exhausted = False
    try:
        while True:
            while not exhausted and in_flight < window:
                batch = await asyncio.to_thread(lambda: list(islice(frames, group)))
                exhausted = len(batch) < group
                if batch:
                    task = asyncio.ensure_future(inference.predict_group(
                        ctx=ctx, backend=backend, model_key=key, images=batch, opts=opts))
                    pending.append((index, batch, task))
                    index += len(batch)
                    in_flight += len(batch)
            if not pending:
                return
            first, batch, task = pending.popleft()
            in_flight -= len(batch)
            for offset, (frame, dets) in enumerate(zip(batch, await task, strict=True)):
                yield first + offset, frame, dets
    finally:
        for _, _, task in pending:
            task.cancel()
        with contextlib.suppress(ValueError):  # still reading in its thread: it ends on its own
            frames.close()


async def infer_video(
    *, ctx: Platform, model_id: str, source: VideoSource, opts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The annotated video (base64) and per-frame statistics, run as a tracked task ('video')."""
    opts = opts or inference.options()
    inference.resolve(ctx=ctx, model_id=model_id)
    task_id = tasks.create(ctx=ctx, kind="video", params={"model_id": model_id, **opts})

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        counts: list[int] = []
        writer, out_path, mime = open_writer(source.path.parent, source.fps, (source.width, source.height))
        started, last = time.monotonic(), 0.0
        try:
            async for i, frame, dets in detect_frames(ctx=ctx, model_id=model_id, source=source, opts=opts):
                counts.append(len(dets))
                writer.write(annotate_bgr(frame, dets))
                if source.frame_count and i / source.frame_count - last >= 0.1:
                    last = i / source.frame_count
                    progress(last)
        finally:
            writer.release()
        elapsed = time.monotonic() - started
        data = await asyncio.to_thread(out_path.read_bytes)
        out_path.unlink(missing_ok=True)
        return {
            "video_data": base64.b64encode(data).decode("ascii"),
            "mime_type": mime,
            "stats": {
                "total_frames": len(counts),
                "detections_per_frame": counts,
                "fps": round(source.fps, 3),
                "processing_fps": round(len(counts) / elapsed, 2) if elapsed > 0 else None,
            },
        }

    result: dict[str, Any] = {}

    async def tracked(progress: Callable[[float], None]) -> dict[str, Any]:
        result.update(await work(progress))
        return {"stats": {k: v for k, v in result["stats"].items() if k != "detections_per_frame"},
                "mime_type": result["mime_type"]}

    await tasks.run(ctx=ctx, task_id=task_id, work=tracked)
    return {"model_id": model_id, "task_id": task_id, **result}


def sse(data: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_video(
    *, ctx: Platform, model_id: str, source: VideoSource, opts: dict[str, Any] | None = None,
    disconnected: Callable[[], Any] | None = None,
) -> AsyncIterator[str]:
    """Server-sent events: `event: start` {task_id, model_id, fps, width, height, frame_count}, then
    one unnamed (`message`) event per frame {frame, image_data (base64 JPEG), detections}, then
    `event: end` {total_frames, detections_per_frame, fps, processing_fps} (or `event: error`
    {detail}). A client that goes away cancels the work; the task record ('video_stream') says so."""
    opts = opts or inference.options()
    inference.resolve(ctx=ctx, model_id=model_id)
    task_id = tasks.create(ctx=ctx, kind="video_stream", params={"model_id": model_id, **opts})
    tasks.update(ctx=ctx, task_id=task_id, status=tasks.RUNNING)
    counts: list[int] = []
    finished = False
    try:
        yield sse({"task_id": task_id, "model_id": model_id, "fps": round(source.fps, 3), "width": source.width,
                   "height": source.height, "frame_count": source.frame_count}, "start")
        started = time.monotonic()
        async for i, frame, dets in detect_frames(ctx=ctx, model_id=model_id, source=source, opts=opts):
            if disconnected is not None and await disconnected():
                break
            jpeg = await asyncio.to_thread(lambda f=frame, d=dets: encode_jpeg_bgr(annotate_bgr(f, d)))
            counts.append(len(dets))
            yield sse({"frame": i, "image_data": base64.b64encode(jpeg).decode("ascii"), "detections": dets})
        else:
            elapsed = time.monotonic() - started
            stats = {"total_frames": len(counts), "detections_per_frame": counts, "fps": round(source.fps, 3),
                     "processing_fps": round(len(counts) / elapsed, 2) if elapsed > 0 else None}
            tasks.update(ctx=ctx, task_id=task_id, status=tasks.COMPLETED, progress=1.0,
                         result={k: v for k, v in stats.items() if k != "detections_per_frame"})
            finished = True
            yield sse(stats, "end")
    except Exception as exc:
        detail = getattr(exc, "message", None) or f"{type(exc).__name__}"
        tasks.update(ctx=ctx, task_id=task_id, status=tasks.FAILED, error=detail)
        finished = True
        yield sse({"detail": detail}, "error")
    finally:
        if not finished:
            tasks.update(ctx=ctx, task_id=task_id, status=tasks.CANCELLED, error="client disconnected",
                         progress=min(1.0, len(counts) / source.frame_count) if source.frame_count else 0.0)
        source.remove()

