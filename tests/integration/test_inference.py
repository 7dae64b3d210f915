"""Inference on Ray Serve: the native /infer endpoints against the session application, plus the
model deployment's multiplexing (LRU), batching and eviction on a separate small Serve app."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from raysight.backend import Backend, Operation
from raysight.context import Platform
from raysight.errors import Invalid
from raysight.services import inference, models, tasks
from raysight.settings import Settings
from raysight.store.models import Model
from tests.datagen import image_bytes, make_detection_images, yolo_line

pytestmark = pytest.mark.ray
CLASSES = ["square", "circle"]


# -- models registered in the session server's workspace ----------------------------------------------
@pytest.fixture(scope="session")
def registry(serve_workspace: Path) -> Iterator[Platform]:
    """A Platform on the workspace the session server serves (same SQLite file as the replicas)."""
    platform = Platform.create(Settings(workspace=serve_workspace))
    yield platform
    platform.close()


def save_fresh_yolo(path: Path) -> Path:
    from ultralytics import YOLO

    path.parent.mkdir(parents=True, exist_ok=True)
    YOLO("yolov8n.yaml").save(str(path))
    return path


def register_yolo(ctx: Platform, weights: Path | None = None, classes: list[str] | None = None) -> str:
    model_id = f"model_test_{uuid.uuid4().hex[:8]}"
    if weights is None:
        weights = save_fresh_yolo(ctx.workspace.model_dir(model_id) / "weights" / "best.pt")
    models.register(ctx=ctx, plugin="yolo", task_type="detect", weights_path=weights, classes=classes or [],
                    name=f"yolo {model_id}", model_id=model_id)
    return model_id


def register_resnet(ctx: Platform, classes: list[str]) -> str:
    model_id = f"model_test_{uuid.uuid4().hex[:8]}"
    path = ctx.workspace.model_dir(model_id) / "weights" / "best.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    net = torchvision.models.resnet18(weights=None, num_classes=len(classes))
    torch.save({"arch": "resnet18", "classes": classes, "state_dict": net.state_dict(), "imgsz": 64}, path)
    models.register(ctx=ctx, plugin="resnet", task_type="classify", weights_path=path, classes=classes,
                    name="resnet", model_id=model_id)
    return model_id


@pytest.fixture(scope="session")
def fresh_yolo(registry: Platform) -> str:
    """An untrained YOLOv8n (fresh weights): answers have the right shape, boxes are arbitrary."""
    return register_yolo(registry)


@pytest.fixture(scope="session")
def trained_yolo(registry: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A YOLOv8n trained for ~50 s (40 epochs) on generated squares and circles (finds them reliably)."""
    from ultralytics import YOLO

    root = tmp_path_factory.mktemp("shapes")
    for split, n, seed in (("train", 64, 0), ("val", 8, 1)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i, (im, boxes) in enumerate(make_detection_images(n, size=128, seed=seed, classes=CLASSES)):
            im.save(root / "images" / split / f"{i}.jpg")
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(yolo_line(b, 128, 128) for b in boxes))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {CLASSES}\n")
    model = YOLO("yolov8n.yaml")
    model.train(data=str(root / "data.yaml"), epochs=40, imgsz=128, batch=16, workers=0, plots=False, val=False,
                device="cpu", project=str(root / "runs"), name="r", exist_ok=True, verbose=False, amp=False, seed=0)
    weights = root / "runs" / "r" / "weights" / "last.pt"
    dest = registry.workspace.models / f"trained_{uuid.uuid4().hex[:6]}.pt"
    dest.write_bytes(weights.read_bytes())
    return register_yolo(registry, dest, CLASSES)


@pytest.fixture(scope="session")
def resnet_model(registry: Platform) -> str:
    return register_resnet(registry, ["cat", "dog", "bird"])


def png(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_video(path: Path, frames: int, size: int = 128, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    samples = make_detection_images(min(frames, 16), size=size, seed=3, classes=CLASSES)
    for i in range(frames):
        writer.write(cv2.cvtColor(np.asarray(samples[i % len(samples)].image), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def check_detection(det: dict[str, Any]) -> None:
    assert set(det) == {"class_id", "class_name", "confidence", "bbox"}
    assert set(det["bbox"]) == {"x1", "y1", "x2", "y2"}
    assert 0.0 <= det["confidence"] <= 1.0


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# -- single image ---------------------------------------------------------------------------------------
def test_infer_image_shape_and_upload(http: httpx.Client, fresh_yolo: str, serve_workspace: Path) -> None:
    r = http.post(f"/infer/{fresh_yolo}", files={"file": ("pic.png", png(), "image/png")}, data={"conf": "0.0"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"model_id", "image_path", "detections"}
    assert body["model_id"] == fresh_yolo
    assert body["image_path"].startswith("uploads/") and body["image_path"].endswith(".png")
    assert (serve_workspace / body["image_path"]).is_file()
    for det in body["detections"]:
        check_detection(det)


def test_trained_model_finds_the_shapes(http: httpx.Client, trained_yolo: str) -> None:
    sample = make_detection_images(1, size=128, seed=123, classes=CLASSES)[0]
    r = http.post(f"/infer/{trained_yolo}", files={"file": ("s.jpg", image_bytes(sample.image), "image/jpeg")},
                  params={"conf": 0.25})
    assert r.status_code == 200, r.text
    dets = r.json()["detections"]
    for cls, *box in sample.boxes:
        best = max(dets, key=lambda d: iou(tuple(box), tuple(d["bbox"].values())), default=None)
        assert best is not None and iou(tuple(box), tuple(best["bbox"].values())) > 0.5, dets
        assert best["class_name"] == CLASSES[cls] and best["class_id"] == cls


def test_large_image_is_downscaled_and_boxes_scaled_back(http: httpx.Client, trained_yolo: str) -> None:
    sample = make_detection_images(1, size=128, seed=7, classes=CLASSES)[0]
    big = sample.image.resize((4608, 4608), Image.NEAREST)  # 21 MP > MAX_INFER_PIXELS
    r = http.post(f"/infer/{trained_yolo}", files={"file": ("big.jpg", image_bytes(big), "image/jpeg")})
    assert r.status_code == 200, r.text
    dets = r.json()["detections"]
    assert dets
    for cls, *box in sample.boxes:
        scaled = tuple(v * 36 for v in box)
        assert any(iou(scaled, tuple(d["bbox"].values())) > 0.5 and d["class_id"] == cls for d in dets), dets


def test_a_big_jpeg_is_decoded_at_the_models_size_and_answers_like_the_whole_image(
        http: httpx.Client, trained_yolo: str) -> None:
    """A 1024 px photo for a model that resizes to 128 px: the replica decodes the JPEG at 1/8
    (Backend.input_side, imaging.jpeg_reduction); the boxes still come back in the photo's own pixels and
    agree with those found on the same picture sent as a PNG (always decoded whole)."""
    sample = make_detection_images(1, size=128, seed=11, classes=CLASSES)[0]
    big = sample.image.resize((1024, 1024), Image.NEAREST)
    answers = {}
    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        big.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        r = http.post(f"/infer/{trained_yolo}", files={"file": (f"big.{fmt.lower()}", buf.getvalue(), f"image/{fmt}")})
        assert r.status_code == 200, r.text
        answers[fmt] = r.json()["detections"]
    for cls, *box in sample.boxes:
        scaled = tuple(v * 8 for v in box)
        found = {}
        for fmt, dets in answers.items():
            best = max(dets, key=lambda d: iou(scaled, tuple(d["bbox"].values())), default=None)
            assert best is not None and best["class_id"] == cls, (fmt, dets)
            assert iou(scaled, tuple(best["bbox"].values())) > 0.5, (fmt, dets)
            found[fmt] = tuple(best["bbox"].values())
        assert iou(found["JPEG"], found["PNG"]) > 0.85, found


def test_classification_answers_in_detection_shape(http: httpx.Client, resnet_model: str) -> None:
    r = http.post(f"/infer/{resnet_model}", files={"file": ("p.png", png(90, 70), "image/png")})
    assert r.status_code == 200, r.text
    (det,) = r.json()["detections"]
    check_detection(det)
    assert det["class_name"] in ("cat", "dog", "bird")
    assert det["bbox"] == {"x1": 0.0, "y1": 0.0, "x2": 90.0, "y2": 70.0}


# -- batch ----------------------------------------------------------------------------------------------
def test_batch_every_model_on_every_image(http: httpx.Client, fresh_yolo: str, resnet_model: str) -> None:
    files = [("files", ("a.png", png(seed=1), "image/png")), ("files", ("b.jpg", png(seed=2), "image/png"))]
    r = http.post("/infer/batch/run", data={"model_ids": f"{fresh_yolo}, {resnet_model}"}, files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["model_id"] for x in results] == [fresh_yolo, fresh_yolo, resnet_model, resnet_model]
    assert results[0]["image_path"] == results[2]["image_path"] != results[1]["image_path"]
    assert len(results[2]["detections"]) == 1


def test_concurrent_requests_are_batched(http: httpx.Client, server: str, trained_yolo: str) -> None:
    from ray import serve

    handle = serve.get_deployment_handle("yolo", app_name="raysight")
    before = handle.info.remote().result()["stats"]

    async def fire() -> list[int]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as client:
            rs = await asyncio.gather(*(
                client.post(f"/infer/{trained_yolo}", files={"file": ("x.png", png(seed=i), "image/png")})
                for i in range(16)
            ))
        return [r.status_code for r in rs]

    assert asyncio.run(fire()) == [200] * 16
    after = handle.info.remote().result()["stats"]
    items, batches = after["batched_items"] - before["batched_items"], after["batches"] - before["batches"]
    assert items == 16 and batches < 16 and after["max_batch_seen"] > 1


def test_an_upload_travels_inside_the_call_and_a_big_object_through_the_store(ray_cluster: None) -> None:
    """settings.SERVE_ENV (what `raysight serve` gives its Ray processes and serve_config.yaml the replicas):
    an object up to INLINE_OBJECT_BYTES, e.g. a JPEG upload on its way to a model replica, is passed inside
    the call (no object-store copy); a bigger one still lies in the store of the node that made it."""
    import ray

    from raysight.settings import INLINE_OBJECT_BYTES

    @ray.remote
    def made(size: int) -> bytes:
        return b"x" * size

    @ray.remote
    def stored_on(sizes: list[int]) -> list[list[str]]:
        refs = [made.remote(size) for size in sizes]
        ray.wait(refs, num_returns=len(refs))
        found = ray.experimental.get_object_locations(refs)
        return [found[ref]["node_ids"] for ref in refs]

    upload, big = ray.get(stored_on.remote([INLINE_OBJECT_BYTES - 4096, 2 * INLINE_OBJECT_BYTES]))
    assert upload == [] and len(big) == 1


def test_a_corrupt_image_fails_alone_among_concurrent_ones(server: str, fresh_yolo: str) -> None:
    """The replica decodes a batch's images together: one that does not decode fails its own request only."""
    broken = png()[:64] + b"\x00" * 64  # a readable header: it passes the ingress's probe

    async def fire() -> list[int]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as client:
            rs = await asyncio.gather(*(
                client.post(f"/infer/{fresh_yolo}",
                            files={"file": ("x.png", broken if i % 4 == 0 else png(seed=i), "image/png")})
                for i in range(8)
            ))
        return [r.status_code for r in rs]

    assert asyncio.run(fire()) == [400 if i % 4 == 0 else 200 for i in range(8)]


@pytest.fixture(scope="module")
def grouped_app(server: str, serve_workspace: Path) -> Iterator[str]:
    """A second application on the session cluster whose ingress groups concurrent yolo predictions into
    calls of up to 4 images (serving/grouping.py; one replica: two calls out at a time). The replica's own
    batching is off (max_batch_size 1): a batch of more than one image can only come from a grouped call."""
    from ray import serve

    from raysight.serving.app import build_app

    app = build_app({
        "settings": {"workspace": str(serve_workspace), "plugins": "yolo"},
        "ingress": {"num_cpus": 0.05},
        "models": {"yolo": {"num_cpus": 0.05, "num_replicas": 1, "call_batch_size": 4, "max_batch_size": 1}},
    })
    serve.run(app, name="grouped", route_prefix="/grouped")
    yield f"{server}/grouped"
    serve.delete("grouped")


def test_grouped_calls_answer_each_image_as_alone_and_a_corrupt_one_fails_alone(
        http: httpx.Client, grouped_app: str, trained_yolo: str) -> None:
    from ray import serve

    samples = make_detection_images(8, size=128, seed=21, classes=CLASSES)
    broken = png()[:64] + b"\x00" * 64  # a readable header: it passes the ingress's probe
    uploads = [broken if i % 4 == 1 else image_bytes(s.image) for i, s in enumerate(samples)]
    handle = serve.get_deployment_handle("yolo", app_name="grouped")

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=grouped_app, timeout=120) as client:
            await client.post(f"/infer/{trained_yolo}", files={"file": ("w.jpg", uploads[0], "image/jpeg")})
            before = (await handle.info.remote())["stats"]
            answers = await asyncio.gather(*(
                client.post(f"/infer/{trained_yolo}", files={"file": ("x.jpg", u, "image/jpeg")}) for u in uploads))
            after = (await handle.info.remote())["stats"]
            assert after["batched_items"] - before["batched_items"] == 8
            assert after["batches"] - before["batches"] < 8 and after["max_batch_seen"] > 1  # calls were grouped
            return list(answers)

    answers = asyncio.run(fire())
    assert [r.status_code for r in answers] == [400 if i % 4 == 1 else 200 for i in range(8)]
    assert all("detail" in answers[i].json() for i in (1, 5))
    for upload, grouped in zip(uploads, answers, strict=True):
        if grouped.status_code != 200:
            continue
        alone = http.post(f"/infer/{trained_yolo}", files={"file": ("x.jpg", upload, "image/jpeg")})  # ungrouped app
        mine, theirs = grouped.json()["detections"], alone.json()["detections"]
        assert len(mine) == len(theirs), (mine, theirs)
        for b in theirs:
            assert any(a["class_id"] == b["class_id"] and iou(tuple(a["bbox"].values()), tuple(b["bbox"].values()))
                       > 0.99 for a in mine), (mine, theirs)
    assert any(r.status_code == 200 and r.json()["detections"] for r in answers)  # the shapes were found


# -- errors ---------------------------------------------------------------------------------------------
def test_errors(http: httpx.Client, fresh_yolo: str) -> None:
    good = {"file": ("p.png", png(), "image/png")}
    r = http.post(f"/infer/{fresh_yolo}", files={"file": ("x.jpg", b"\xff\xd8 definitely not jpeg", "image/jpeg")})
    assert r.status_code == 400 and "detail" in r.json()
    r = http.post(f"/infer/{fresh_yolo}", files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 400
    # a readable header with corrupt pixel data passes the ingress's probe; the replica's decode refuses it
    broken = png()[:64] + b"\x00" * 64
    r = http.post(f"/infer/{fresh_yolo}", files={"file": ("b.png", broken, "image/png")})
    assert r.status_code == 400 and "corrupt" in r.json()["detail"]
    r = http.post("/infer/model_does_not_exist", files=good)
    assert r.status_code == 404 and "detail" in r.json()
    r = http.post(f"/infer/{fresh_yolo}", files=good, data={"conf": "1.5"})
    assert r.status_code == 422 and "detail" in r.json()
    r = http.post(f"/infer/{fresh_yolo}", files=good, params={"conf": -0.1})
    assert r.status_code == 422
    r = http.post("/infer/batch/run", data={"model_ids": f"{fresh_yolo},nope_model"}, files=[("files", good["file"])])
    assert r.status_code == 404
    r = http.post(f"/infer/video/{fresh_yolo}", files={"file": ("v.mp4", b"not a video at all", "video/mp4")})
    assert r.status_code == 400 and "detail" in r.json()
    r = http.post(f"/infer/video/{fresh_yolo}/stream", files={"file": ("v.mp4", png(), "video/mp4")})
    assert r.status_code == 400
    r = http.post("/infer/video/nope_model", files={"file": ("v.mp4", b"x", "video/mp4")})
    assert r.status_code == 404
    # the video routes take conf, iou and imgsz as the image routes do: out of range is 422, not ignored
    for route in (f"/infer/video/{fresh_yolo}", f"/infer/video/{fresh_yolo}/stream"):
        for bad in ({"iou": 5}, {"imgsz": 1}, {"conf": 2}):
            r = http.post(route, files={"file": ("v.mp4", b"x", "video/mp4")}, params=bad)
            assert r.status_code == 422, (route, bad, r.text)


def test_family_without_predict_is_invalid(ctx: Platform, tmp_path: Path) -> None:
    class NoPredict(Backend):
        name = "nopredict"
        operations = frozenset({Operation.TRAIN})

    ctx.plugins.backends["nopredict"] = NoPredict()
    (tmp_path / "w.bin").write_bytes(b"x")
    models.register(ctx=ctx, plugin="nopredict", task_type="detect", weights_path=tmp_path / "w.bin", classes=[],
                    name="n", model_id="model_np")
    with pytest.raises(Invalid, match="no predict"):
        inference.resolve(ctx=ctx, model_id="model_np")


# -- video ----------------------------------------------------------------------------------------------
def test_video_annotated(http: httpx.Client, trained_yolo: str, tmp_path: Path) -> None:
    video = write_video(tmp_path / "in.mp4", 12)
    r = http.post(f"/infer/video/{trained_yolo}", files={"file": ("in.mp4", video.read_bytes(), "video/mp4")},
                  data={"conf": "0.3", "iou": "0.6", "imgsz": "128"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_id"] == trained_yolo
    stats = body["stats"]
    assert stats["total_frames"] == 12 and len(stats["detections_per_frame"]) == 12 and stats["fps"] == 10.0
    assert all(n >= 1 for n in stats["detections_per_frame"])
    out = tmp_path / ("out.webm" if body["mime_type"] == "video/webm" else "out.mp4")
    out.write_bytes(base64.b64decode(body["video_data"]))
    cap = cv2.VideoCapture(str(out))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 12


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_video_stream(http: httpx.Client, trained_yolo: str, tmp_path: Path) -> None:
    video = write_video(tmp_path / "in.mp4", 10)
    with http.stream("POST", f"/infer/video/{trained_yolo}/stream",
                     files={"file": ("in.mp4", video.read_bytes(), "video/mp4")}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r.iter_lines()))
    assert events[0][0] == "start" and events[-1][0] == "end"
    frames = [d for e, d in events if e == "message"]
    assert [f["frame"] for f in frames] == list(range(10))
    for f in frames:
        assert set(f) == {"frame", "image_data", "detections"}
        jpeg = base64.b64decode(f["image_data"])
        assert jpeg[:2] == b"\xff\xd8"
        for det in f["detections"]:
            check_detection(det)
    assert events[-1][1]["total_frames"] == 10
    assert events[-1][1]["detections_per_frame"] == [len(f["detections"]) for f in frames]


def test_a_group_of_frames_gets_each_frames_own_detections_in_order(trained_yolo: str, registry: Platform) -> None:
    from ray import serve

    _, key = models.serving_key(ctx=registry, model_id=trained_yolo)
    handle = serve.get_deployment_handle("yolo", app_name="raysight").options(multiplexed_model_id=key)
    frames = [np.asarray(s.image) for s in make_detection_images(5, size=128, seed=11, classes=CLASSES)]
    opts = inference.options(conf=0.3)
    one_by_one = [handle.predict.remote(frame, opts).result() for frame in frames]
    assert all(one_by_one) and len({json.dumps(d, sort_keys=True) for d in one_by_one}) == 5  # 5 different answers
    grouped = handle.predict_many.remote(frames, opts).result()
    assert len(grouped) == 5
    for got, want in zip(grouped, one_by_one, strict=True):
        assert [d["class_id"] for d in got] == [d["class_id"] for d in want]
        for a, b in zip(got, want, strict=True):
            box = ("x1", "y1", "x2", "y2")
            assert iou(tuple(a["bbox"][k] for k in box), tuple(b["bbox"][k] for k in box)) > 0.99
            assert abs(a["confidence"] - b["confidence"]) < 0.01


def test_video_stream_stops_when_the_client_leaves(
    http: httpx.Client, fresh_yolo: str, registry: Platform, tmp_path: Path
) -> None:
    video = write_video(tmp_path / "long.mp4", 600, size=160)
    with http.stream("POST", f"/infer/video/{fresh_yolo}/stream",
                     files={"file": ("long.mp4", video.read_bytes(), "video/mp4")}) as r:
        assert r.status_code == 200
        got = []
        for event, data in sse_events(r.iter_lines()):
            got.append((event, data))
            if len(got) == 4:
                break
    task_id = got[0][1]["task_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = tasks.get(ctx=registry, task_id=task_id)
        if record["status"] != tasks.RUNNING:
            break
        time.sleep(0.3)
    assert record["status"] == tasks.CANCELLED, record
    assert record["progress"] < 0.5


# -- multiplexing, LRU, eviction (a separate small Serve app with max 2 models per replica) -----------
@pytest.fixture(scope="module")
def lru_handle(server: str, serve_workspace: Path) -> Iterator[Any]:
    from ray import serve

    from raysight.runtime import model_catalog
    from raysight.serving.model_deployment import ModelDeployment

    opts = {"num_cpus": 0.1, "num_replicas": 1, "max_num_models_per_replica": 2, "max_batch_size": 4,
            "reconcile_interval_s": 0.5}
    app = ModelDeployment.options(name="yolo_lru", num_replicas=1, ray_actor_options={"num_cpus": 0.1}).bind(
        "yolo", Settings(workspace=serve_workspace).as_args(), opts, model_catalog)
    handle = serve.run(app, name="lru_test", route_prefix=None)
    yield handle
    serve.delete("lru_test")


def _predict(handle: Any, ctx: Platform, model_id: str) -> list[dict[str, Any]]:
    _, key = models.serving_key(ctx=ctx, model_id=model_id)
    return handle.options(multiplexed_model_id=key).predict.remote(np.zeros((64, 64, 3), np.uint8), {}).result()


def test_lru_keeps_at_most_max_models(lru_handle: Any, registry: Platform) -> None:
    a, b, c = (register_yolo(registry) for _ in range(3))
    for model_id in (a, b, c):
        _predict(lru_handle, registry, model_id)
    info = lru_handle.info.remote().result()
    loaded = [k.split("@")[0] for k in info["loaded_models"]]
    assert loaded == [b, c] and info["max_num_models_per_replica"] == 2
    loads = info["stats"]["loads"]
    _predict(lru_handle, registry, c)  # cached: no load
    assert lru_handle.info.remote().result()["stats"]["loads"] == loads
    _predict(lru_handle, registry, a)  # evicted: loaded again, b goes
    info = lru_handle.info.remote().result()
    assert info["stats"]["loads"] == loads + 1
    assert [k.split("@")[0] for k in info["loaded_models"]] == [c, a]


def test_loading_a_model_does_not_block_others(lru_handle: Any, registry: Platform) -> None:
    a, b = register_yolo(registry), register_yolo(registry)
    _predict(lru_handle, registry, a)
    _, key_b = models.serving_key(ctx=registry, model_id=b)
    _, key_a = models.serving_key(ctx=registry, model_id=a)
    image = np.zeros((64, 64, 3), np.uint8)

    async def race() -> tuple[float, float]:
        started = time.monotonic()
        slow = lru_handle.options(multiplexed_model_id=key_b).predict.remote(image, {})
        await asyncio.sleep(0.05)
        fast_done = []
        for _ in range(3):
            await lru_handle.options(multiplexed_model_id=key_a).predict.remote(image, {})
            fast_done.append(time.monotonic() - started)
        await slow
        return fast_done[-1], time.monotonic() - started

    fast, slow = asyncio.run(race())
    assert fast < slow, (fast, slow)


def test_unknown_and_builtin_keys(lru_handle: Any) -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(Exception) as err:
        lru_handle.options(multiplexed_model_id="model_gone@1").predict.remote(image, {}).result()
    assert "not found" in str(err.value)
    with pytest.raises(Exception) as err:
        lru_handle.options(multiplexed_model_id="builtin:nothing").predict.remote(image, {}).result()
    assert "built-in" in str(err.value)


def test_delete_evicts_everywhere(lru_handle: Any, registry: Platform, server: str, http: httpx.Client) -> None:
    from ray import serve

    model_id = register_yolo(registry)
    _predict(lru_handle, registry, model_id)  # held by the LRU app's replica
    r = http.post(f"/infer/{model_id}", files={"file": ("p.png", png(), "image/png")})  # and the session app's
    assert r.status_code == 200
    main = serve.get_deployment_handle("yolo", app_name="raysight")
    assert any(k.startswith(model_id) for k in main.info.remote().result()["loaded_models"])
    with registry.db.session() as s:
        s.delete(s.get(Model, model_id))

    # the immediate half: services.models.evict through the Predictor port over the handles
    from raysight.serving.predictor import ServePredictor

    ctx = Platform.create(Settings(workspace=registry.settings.workspace), migrate=False)
    ctx.predictor = ServePredictor({"yolo": main})
    asyncio.run(models.evict(ctx=ctx, model_id=model_id))
    assert not any(k.startswith(model_id) for k in main.info.remote().result()["loaded_models"])
    # the reliable half: every replica reconciles against the registry by itself
    deadline = time.monotonic() + 10
    while any(k.startswith(model_id) for k in lru_handle.info.remote().result()["loaded_models"]):
        assert time.monotonic() < deadline, "the LRU app's replica kept the deleted model"
        time.sleep(0.2)
    r = http.post(f"/infer/{model_id}", files={"file": ("p.png", png(), "image/png")})
    assert r.status_code == 404


def test_update_serves_the_new_version(lru_handle: Any, registry: Platform) -> None:
    model_id = register_yolo(registry)
    _predict(lru_handle, registry, model_id)
    _, old_key = models.serving_key(ctx=registry, model_id=model_id)
    time.sleep(0.01)
    with registry.db.session() as s:
        s.get(Model, model_id).name = "renamed"
    _, new_key = models.serving_key(ctx=registry, model_id=model_id)
    assert new_key != old_key
    _predict(lru_handle, registry, model_id)
    deadline = time.monotonic() + 10
    while old_key in lru_handle.info.remote().result()["loaded_models"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert new_key in lru_handle.info.remote().result()["loaded_models"]


def test_health_reports_the_replica_device(http: httpx.Client, fresh_yolo: str) -> None:
    http.post(f"/infer/{fresh_yolo}", files={"file": ("p.png", png(), "image/png")})
    deployments = http.get("/health").json()["serve"]["deployments"]
    assert deployments["yolo"]["device"] == "cpu"
