"""imgseg benchmark on this machine (CPU by default), with MobileSAM vit_t.

Measures: a SAM prompt on a cached embedding (goal <= 100 ms), a full screenshot ingest at
1280x720 (goal <= 15 s) and OCR of that screenshot (goal <= 2 s). The backends run in this process
behind a stand-in for the Serve handles, so the figures are the pipeline's own cost without Ray
transport. Run: python bench/imgseg.py [--repeat 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raysight.context import Platform  # noqa: E402
from raysight.services.imgseg import ingest  # noqa: E402
from raysight.serving.predictor import ServePredictor  # noqa: E402
from raysight.settings import Settings  # noqa: E402
from raysight_ocr.backend import OcrBackend  # noqa: E402
from raysight_sam.backend import SamBackend  # noqa: E402
from tests.imgseg_gen import screenshot  # noqa: E402


class LocalHandle:
    """What ServePredictor needs of a DeploymentHandle here: options(...).run.remote(op, payload)."""

    def __init__(self, backend: Any, device: str, models: dict[str, Any] | None = None, key: str = "") -> None:
        self.backend, self.device, self.models, self.key = backend, device, {} if models is None else models, key

    def options(self, multiplexed_model_id: str = "") -> LocalHandle:
        return LocalHandle(self.backend, self.device, self.models, multiplexed_model_id)

    @property
    def run(self) -> LocalHandle:
        return self

    def remote(self, op: str, payload: dict[str, Any]) -> Any:
        async def go() -> Any:
            if self.key not in self.models:
                self.models[self.key] = self.backend.load(self.backend.builtin_ref(self.key), device=self.device)
            return await asyncio.to_thread(self.backend.run, self.models[self.key], op, payload)

        return go()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ctx = Platform.create(Settings(workspace=Path(tempfile.mkdtemp(prefix="imgseg_bench_"))))
    handles = {"sam": LocalHandle(SamBackend(), args.device), "ocr": LocalHandle(OcrBackend(), args.device)}
    ctx.predictor = ServePredictor(handles)
    image, _ = screenshot(1280, 720)
    sam, ocr = handles["sam"], handles["ocr"]
    out: dict[str, Any] = {}

    async def run() -> None:
        t = time.perf_counter()
        emb = await sam.options("builtin:sam:vit_t").run.remote("embed", {"image": image})
        out["sam_load_and_embed_s"] = round(time.perf_counter() - t, 3)
        prompts = []
        for i in range(10):
            t = time.perf_counter()
            await sam.options("builtin:sam:vit_t").run.remote(
                "prompt", {"image_hash": emb["image_hash"], "points": [[200 + i, 465]], "labels": [1]})
            prompts.append(time.perf_counter() - t)
        out["prompt_cached_ms"] = round(statistics.median(prompts) * 1000, 1)
        t = time.perf_counter()
        await sam.options("builtin:sam:vit_t").run.remote("embed", {"image": image[::-1].copy()})
        out["sam_embed_s"] = round(time.perf_counter() - t, 3)
        await ocr.options("builtin:ocr").run.remote("read_text", {"image": image})  # load
        ocr_times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            await ocr.options("builtin:ocr").run.remote("read_text", {"image": image})
            ocr_times.append(time.perf_counter() - t)
        out["ocr_s"] = round(statistics.median(ocr_times), 3)
        ingest_times, stages = [], {}
        for i in range(args.repeat):
            shot = image.copy()
            shot[-1, -1 - i] = (i, i, i)  # a new picture each time: no embedding-cache hit
            t = time.perf_counter()
            res = await ingest.analyse(ctx=ctx, image=shot)
            ingest_times.append(time.perf_counter() - t)
            stages = res["page_meta"]["timings"]
            out["components"] = res["page_meta"]["component_count"]
            out["sam_prompts"] = res["page_meta"]["sam"].get("prompts")
        out["ingest_s"] = round(statistics.median(ingest_times), 3)
        out["ingest_stages"] = stages

    asyncio.run(run())
    out["goals"] = {"prompt_cached_ms": 100, "ingest_s": 15, "ocr_s": 2}
    out["met"] = {k: out[k] <= v for k, v in out["goals"].items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
