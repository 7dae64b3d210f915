"""Data selection: random sampling and model-driven (uncertainty) selection of images from a pool.

Both run as tracked tasks (services.tasks) that copy the chosen images into an output folder. Every
server folder or file a request names goes through `resolve_server_path` (RAYSIGHT_IMPORT_ROOTS).

The pool (`pool`, the AutoSele `track_file` / `task_file`) is either a folder (every image under it,
recursively, in sorted order; symlinks skipped) or a text file listing one image path per line (blank and ``#`` lines
skipped; relative lines are relative to the list's folder; every line must lie under the import roots,
missing files are skipped and counted).

Uncertainty selection runs a registered model over the pool through services.inference (the Serve
model deployments, batched there) and keeps the `count` images it is least sure of:

- classification (the model answers every class with its probability: topk = all, conf = 0):
  ``least_confidence`` = 1 - p1, ``margin`` = 1 - (p1 - p2), ``entropy`` = -sum p log p / log K;
- detection: every box with confidence >= DETECT_CONF is a yes/no decision with probability c;
  its uncertainty is the same formula on (c, 1 - c); the image scores the most uncertain of its boxes
  (one doubtful object is worth a label) and an image with no box scores 0.

The default strategy is ``entropy`` (it uses the whole class distribution; for two classes all three
strategies rank images the same way). Ties keep pool order.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from raysight import ids
from raysight.context import Platform
from raysight.errors import Invalid, NotFound, RaysightError
from raysight.imaging import probe
from raysight.import_roots import resolve_server_path
from raysight.services import inference, models, tasks
from raysight.services.dataset_formats import is_image

RANDOM, UNCERTAINTY = "select_random", "select_uncertainty"
KINDS = (RANDOM, UNCERTAINTY)
STRATEGIES = ("least_confidence", "margin", "entropy")
DEFAULT_STRATEGY = "entropy"
DETECT_CONF = 0.05
CHUNK = 16  # images in flight at once (the replica batches them)
MAX_POOL = 100_000


# -- parameters ------------------------------------------------------------------------------------------
def parse_count(value: Any, what: str = "count") -> float:
    """A count (integer >= 1) or a fraction of the pool (0 < x < 1)."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{what} must be a number of images (or a fraction between 0 and 1)") from None
    if not math.isfinite(number) or number <= 0:
        raise Invalid(f"{what} must be positive")
    if number >= 1 and number != int(number):
        raise Invalid(f"{what} must be a whole number of images (or a fraction between 0 and 1)")
    return number


def count_of(number: float, pool_size: int) -> int:
    """How many images `number` (parse_count) picks from a pool of `pool_size` (capped at the pool)."""
    wanted = math.ceil(number * pool_size) if number < 1 else int(number)
    return min(wanted, pool_size)


def parse_flag(value: Any) -> bool:
    """'1' / 'true' / 'yes' / True -> True; '0' / 'false' / '' / None -> False."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off", "none"):
        return False
    raise Invalid(f"'{value}' is not a yes/no value (1 or 0)")


def check_strategy(strategy: str | None) -> str:
    name = (strategy or DEFAULT_STRATEGY).strip().lower().replace("-", "_")
    name = {"lc": "least_confidence", "least": "least_confidence"}.get(name, name)
    if name not in STRATEGIES:
        raise Invalid(f"unknown strategy '{strategy}'; one of {', '.join(STRATEGIES)}")
    return name


def _pool_source(ctx: Platform, pool: str | None) -> Path:
    return resolve_server_path(ctx.settings, pool, what="track_file/task_file")


def output_folder(ctx: Platform, output_dir: str | None) -> Path:
    """The resolved output folder (made if absent; refused outside the import roots)."""
    path = resolve_server_path(ctx.settings, output_dir, must_exist=False, want_dir=True, what="output_dir")
    return path


# -- the pool ----------------------------------------------------------------------------------------------
def list_pool(ctx: Platform, source: Path) -> tuple[list[Path], int]:
    """(images in pool order, entries skipped) of a folder or a list file."""
    if source.is_dir():  # a symlink could lead outside the import roots: such entries are skipped
        found = [p for p in source.rglob("*") if is_image(p) and p.is_file()]
        images = sorted(p for p in found if not p.is_symlink())
        return images[:MAX_POOL], len(found) - len(images[:MAX_POOL])
    images, skipped = [], 0
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise Invalid(f"cannot read the list file '{source.name}'") from exc
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        candidate = Path(entry) if Path(entry).is_absolute() else source.parent / entry
        try:
            path = resolve_server_path(ctx.settings, str(candidate), want_dir=False, what=f"listed image '{entry}'")
        except NotFound:
            skipped += 1
            continue
        if not is_image(path) or len(images) >= MAX_POOL:
            skipped += 1
            continue
        images.append(path)
    return images, skipped


def _copy_out(images: list[Path], out: Path, extra: dict[str, Any] | None = None) -> list[str]:
    """Copy the chosen images into `out` (name clashes get a numbered prefix); write selected.txt
    (the sources, in order) and, with `extra`, selection.json. Returns the written names."""
    out.mkdir(parents=True, exist_ok=True)
    names, taken = [], {p.name for p in out.iterdir()}
    for i, src in enumerate(images):
        name = src.name if src.name not in taken else f"{i:05d}_{src.name}"
        taken.add(name)
        shutil.copy2(src, out / name)
        names.append(name)
    (out / "selected.txt").write_text("".join(f"{p}\n" for p in images), encoding="utf-8")
    if extra is not None:
        (out / "selection.json").write_text(json.dumps(extra, indent=1), encoding="utf-8")
    return names


# -- random sampling -----------------------------------------------------------------------------------------
def start_random(*, ctx: Platform, pool: str | None, output_dir: str | None, count: Any,
                 shuffle: Any = True, seed: int | None = None, params: dict[str, Any] | None = None) -> str:
    """Start a random sample of `count` images of `pool` into `output_dir`; returns the task id.

    shuffle: a uniform random sample (seeded by `seed` when given), listed in random order;
    no shuffle: an evenly spaced (systematic) sample in pool order, which needs no randomness."""
    number = parse_count(count)
    source, out, mix = _pool_source(ctx, pool), output_folder(ctx, output_dir), parse_flag(shuffle)
    record = {"pool": str(source), "output_dir": str(out), "count": count, "shuffle": mix, "seed": seed,
              **(params or {})}
    task_id = tasks.create(ctx=ctx, kind=RANDOM, params=record, task_id=ids.random_id("sam"))

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        images, skipped = await asyncio.to_thread(list_pool, ctx, source)
        n = count_of(number, len(images))
        if mix:
            chosen = random.Random(seed).sample(images, n)
        else:
            step = len(images) / n if n else 0
            chosen = [images[int(i * step)] for i in range(n)]
        progress(0.1)
        names = await asyncio.to_thread(_copy_out, chosen, out)
        return {"pool_size": len(images), "skipped": skipped, "selected": names,
                "sources": [str(p) for p in chosen], "output_dir": str(out)}

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


# -- uncertainty ---------------------------------------------------------------------------------------------
def _of_distribution(p: list[float], k: int, strategy: str) -> float:
    p = sorted((max(0.0, min(1.0, x)) for x in p), reverse=True)
    if not p:
        return 0.0
    if strategy == "least_confidence":
        return 1.0 - p[0]
    if strategy == "margin":
        return 1.0 - (p[0] - (p[1] if len(p) > 1 else 0.0))
    rest = max(0.0, 1.0 - sum(p))  # probability of classes not returned, as one bucket
    terms = [x for x in (*p, rest) if x > 0]
    return -sum(x * math.log(x) for x in terms) / math.log(max(2, k))


def uncertainty(detections: list[dict[str, Any]], *, task_type: str, strategy: str, num_classes: int) -> float:
    """The image's uncertainty in [0, 1] under `strategy` (see the module docstring)."""
    if task_type == "classify":
        return _of_distribution([float(d["confidence"]) for d in detections], max(num_classes, len(detections)),
                                strategy)
    scores = [_of_distribution([c, 1.0 - c], 2, strategy) for c in (float(d["confidence"]) for d in detections)]
    return max(scores, default=0.0)


def _predict_options(task_type: str, num_classes: int) -> dict[str, Any]:
    if task_type == "classify":
        return {**inference.options(conf=0.0), "extra": {"topk": max(2, num_classes)}}
    return inference.options(conf=DETECT_CONF)


async def score_pool(*, ctx: Platform, model_id: str, images: list[Path], strategy: str,
                     progress: Callable[[float], None] | None = None) -> list[float | None]:
    """Uncertainty of every image (None for a file that is no readable image), through the model
    deployments."""
    info = models.get(ctx=ctx, model_id=model_id)
    backend, key = inference.resolve(ctx=ctx, model_id=model_id)
    task_type, n_classes = info["task_type"], len(info["classes"])
    opts = _predict_options(task_type, n_classes)

    async def one(path: Path) -> float | None:
        data = await asyncio.to_thread(path.read_bytes)
        try:
            probe(data, max_decode_pixels=ctx.settings.max_image_pixels)
        except RaysightError:
            return None
        dets = await inference.predict_encoded(ctx=ctx, backend=backend, model_key=key, data=data, opts=opts)
        return uncertainty(dets, task_type=task_type, strategy=strategy, num_classes=n_classes)

    scores: list[float | None] = []
    for start in range(0, len(images), CHUNK):
        scores += await asyncio.gather(*(one(p) for p in images[start:start + CHUNK]))
        if progress:
            progress(0.9 * len(scores) / max(1, len(images)))
    return scores


def rank(paths: list[Path], scores: list[float | None], n: int) -> list[tuple[Path, float]]:
    """The `n` most uncertain (path, score), most uncertain first; ties keep pool order."""
    scored = [(i, p, s) for i, (p, s) in enumerate(zip(paths, scores, strict=True)) if s is not None]
    scored.sort(key=lambda t: (-t[2], t[0]))
    return [(p, s) for _, p, s in scored[:n]]


def find_model(*, ctx: Platform, ref: str | None) -> dict[str, Any]:
    """A registered model by its id, or by a path that names it (``.../models/<id>/weights/best.pt``,
    the way AutoSele clients give `weights_dir`). NotFound when neither names a model."""
    text = str(ref or "").strip()
    if not text:
        raise Invalid("a model id is required")
    try:
        return models.get(ctx=ctx, model_id=text)
    except NotFound:
        pass
    parts = PurePosixPath(text.replace("\\", "/")).parts
    for part in reversed(parts[:-1] if len(parts) > 1 else ()):
        try:
            return models.get(ctx=ctx, model_id=part)
        except NotFound:
            continue
    raise NotFound(f"model '{text}' not found")


def start_uncertainty(*, ctx: Platform, model_id: str | None, pool: str | None, output_dir: str | None,
                      count: Any, strategy: str | None = None, shuffle: Any = False,
                      params: dict[str, Any] | None = None) -> str:
    """Start a model-driven selection of the `count` most uncertain images of `pool`; returns the task id.

    shuffle: the chosen images are written (and listed) in random order instead of most uncertain first."""
    number, name = parse_count(count), check_strategy(strategy)
    info = find_model(ctx=ctx, ref=model_id)
    inference.resolve(ctx=ctx, model_id=info["model_id"])  # Invalid for a family without predict
    source, out, mix = _pool_source(ctx, pool), output_folder(ctx, output_dir), parse_flag(shuffle)
    record = {"model_id": info["model_id"], "pool": str(source), "output_dir": str(out), "count": count,
              "strategy": name, "shuffle": mix, **(params or {})}
    task_id = tasks.create(ctx=ctx, kind=UNCERTAINTY, params=record, task_id=ids.random_id("sele"))

    async def work(progress: Callable[[float], None]) -> dict[str, Any]:
        images, skipped = await asyncio.to_thread(list_pool, ctx, source)
        scores = await score_pool(ctx=ctx, model_id=info["model_id"], images=images, strategy=name,
                                  progress=progress)
        chosen = rank(images, scores, count_of(number, len(images)))
        if mix:
            random.shuffle(chosen)
        report = {"model_id": info["model_id"], "strategy": name,
                  "selected": [{"source": str(p), "score": round(s, 6)} for p, s in chosen]}
        names = await asyncio.to_thread(_copy_out, [p for p, _ in chosen], out, report)
        return {"pool_size": len(images), "skipped": skipped + sum(s is None for s in scores),
                "selected": names, "sources": [str(p) for p, _ in chosen],
                "scores": [round(s, 6) for _, s in chosen], "strategy": name, "model_id": info["model_id"],
                "output_dir": str(out)}

    tasks.start(ctx=ctx, task_id=task_id, work=work)
    return task_id


def get(*, ctx: Platform, task_id: str) -> dict[str, Any]:
    """A selection task's record (NotFound for any other id)."""
    record = tasks.get(ctx=ctx, task_id=str(task_id or ""))
    if record["kind"] not in KINDS:
        raise NotFound(f"selection task '{task_id}' not found")
    return record
