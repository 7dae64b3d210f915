"""The one generic model deployment class: hosts any plugin's backend.

Each replica keeps several models loaded (``@serve.multiplexed``, keyed by model key, LRU) and groups
concurrent predict calls (``@serve.batch``). Callers use a DeploymentHandle::

    handle.options(multiplexed_model_id=model_key).predict.remote(image_rgb, {"conf": 0.25})
    handle.options(multiplexed_model_id=model_key).predict_many.remote([frame, ...], {...})  # one batch
    handle.options(multiplexed_model_id=model_key).predict_each.remote([jpeg_bytes, ...], {...})  # per-image errors
    handle.options(multiplexed_model_id=model_key).run.remote("prompt", {...})   # family-specific ops

Model keys: ``<model_id>@<version>`` for registry models (ModelCatalog.serving_key: the version
changes with the record, so an updated model is never served stale) and ``builtin:...`` for models a
family serves without a record (Backend.builtin_ref).

Both decorators are applied per instance in ``__init__`` (Serve supports instance-level multiplexed
functions, see ray.serve._private.utils._callable_uses_multiplexing), because their limits come from
serve_config.yaml. Loading runs in a thread, so a replica keeps answering for the models it already
holds while a new one loads. Model calls run in a thread too, one at a time per model (a
per-model lock: ultralytics predictors are not thread-safe).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from ray import serve

from raysight import defaults, metrics, ray_metrics
from raysight.errors import Invalid, NotFound, RaysightError, Unavailable, public_message
from raysight.imaging import MAX_INFER_PIXELS, ImageInfo, decode_sized, probe, scale_boxes
from raysight.ports import ModelCatalogFactory
from raysight.serving.config import ModelDeploymentOptions
from raysight.settings import Settings

log = logging.getLogger("ray.serve")

_MULTIPLEX_ATTR = "__serve_multiplex_wrapper"  # where Serve keeps a multiplexed function's LRU


@dataclass
class LoadedModel:
    """What the multiplexed LRU holds: the backend's model object plus a lock for calls into it.
    `model` becomes None when the model is evicted while a call may still hold the holder."""

    key: str
    model: Any
    loaded_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> Any:
        if self.model is None:
            raise NotFound(f"model '{self.key.split('@')[0]}' was removed")
        return self.model


@dataclass(frozen=True)
class _Encoded:
    """An upload's bytes with the header `predict` already read (the batch's decode does not read it again)."""

    data: bytes
    info: ImageInfo | None = None


class _Failed:
    """A per-request failure inside a batch (so one bad group does not fail the others)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _predict_options(raw: dict[str, Any]) -> Any:
    """The options dict a caller sent (inference.options) as the plugin's PredictOptions."""
    from raysight.backend import PredictOptions

    return PredictOptions(
        conf=float(raw.get("conf", defaults.CONF)),
        iou=float(raw.get("iou", defaults.IOU)),
        imgsz=raw.get("imgsz"),
        extra=dict(raw.get("extra") or {}),
    )


def pick_device(num_gpus: float) -> str:
    """CUDA when this replica got a GPU share and torch sees CUDA there; CPU otherwise (a GPU
    declared in the cluster but invisible to torch still serves, on CPU)."""
    if num_gpus <= 0:
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # a broken CUDA install must not stop the replica
        return "cpu"


@serve.deployment
class ModelDeployment:
    def __init__(self, backend_name: str, settings: dict[str, Any], options: dict[str, Any],
                 catalog: ModelCatalogFactory) -> None:
        """`catalog` builds the registry reader (raysight.ports.ModelCatalog) on this replica's Platform."""
        from raysight.context import Platform

        self.backend_name = backend_name
        self.settings = Settings.from_args(settings)
        self.options = ModelDeploymentOptions.from_args(options)
        self.platform = Platform.create(self.settings, migrate=False)
        self.catalog = catalog(self.platform)
        ray_metrics.install()
        self.metrics = metrics.recorder()
        self.backend = self.platform.plugins.backend(backend_name)
        self.device = pick_device(self.options.num_gpus)
        # Model calls run on these threads. torch's intra-op thread count is per OS thread (OpenMP)
        # and libraries change it (ultralytics sets cpu_count - 1 when it sets up a predictor), so it
        # is set before every call (ModelDeploymentOptions.torch_threads).
        self._threads = self.options.torch_threads(self.device)
        # Model calls (predict, run) go to one thread on CPU: one OpenMP team, no oversubscription when two
        # models of this replica are busy at once. Loads have their own threads, so the first request for a
        # model never waits behind another model's work (nor blocks it).
        self._executor = ThreadPoolExecutor(max_workers=1 if self.device == "cpu" else 4, thread_name_prefix="model")
        self._loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="load")

        async def load_model(key: str) -> LoadedModel:
            return await self._load(key)

        self._load_fn = load_model
        self._get_model = serve.multiplexed(max_num_models_per_replica=self.options.max_num_models_per_replica)(
            load_model
        )
        self._predict_batch = serve.batch(
            max_batch_size=self.options.max_batch_size,
            batch_wait_timeout_s=self.options.batch_wait_timeout_s,
        )(self._run_batch)
        self._reconciler: asyncio.Task[None] | None = None
        self._known: set[str] = set()  # loaded keys as last seen (what vanished since, Serve's LRU dropped)
        self.stats = {"loads": 0, "evictions": 0, "batches": 0, "batched_items": 0, "max_batch_seen": 0}
        log.info("%s replica on %s (max %d models, batch %d / %.3fs)", backend_name, self.device,
                 self.options.max_num_models_per_replica, self.options.max_batch_size,
                 self.options.batch_wait_timeout_s)

    def _threaded(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.device == "cpu":
            import torch

            if torch.get_num_threads() != self._threads:
                torch.set_num_threads(self._threads)
        return fn(*args, **kwargs)

    async def _in_thread(self, fn: Any, *args: Any, loading: bool = False, **kwargs: Any) -> Any:
        call = partial(self._threaded, fn, *args, **kwargs)
        executor = self._loader if loading else self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    # -- loading --------------------------------------------------------------------------------
    async def _load(self, key: str) -> LoadedModel:
        if key.startswith("builtin:"):
            ref = self.backend.builtin_ref(key)
            if ref is None:
                raise NotFound(f"{self.backend_name} serves no built-in model '{key}'")
        else:
            ref = await asyncio.to_thread(self.catalog.model_ref, key.split("@", 1)[0])
        # Every family may look for named weights (mobile_sam.pt, paddleocr models) in the weights folder.
        ref = replace(ref, weights_dir=str(self.platform.workspace.weights))
        started = time.perf_counter()
        try:
            model = await self._in_thread(self.backend.load, ref, loading=True, device=self.device)
        except RaysightError:
            raise
        except NotImplementedError as exc:
            raise NotFound(f"{self.backend_name} cannot load models") from exc
        except Exception as exc:
            log.exception("loading %s failed", key)
            raise Unavailable(f"model '{ref.model_id}' cannot be loaded: {public_message(exc)}") from exc
        self.stats["loads"] += 1
        self.metrics.inc("raysight_model_loads_total", family=self.backend_name)
        self.metrics.observe("raysight_model_load_seconds", time.perf_counter() - started, family=self.backend_name)
        self._ensure_reconciler()
        return LoadedModel(key=key, model=model)

    async def _model(self) -> LoadedModel:
        key = serve.get_multiplexed_model_id()
        if not key:
            raise Invalid("no model key given (handle.options(multiplexed_model_id=...))")
        if key in self.loaded_keys():
            self.metrics.inc("raysight_model_cache_hits_total", family=self.backend_name)
        holder = await self._get_model(key)
        current = set(self.loaded_keys())
        pushed_out = self._known - current
        self._known = current
        if pushed_out:  # Serve's LRU made room for a model
            self.metrics.inc("raysight_model_evictions_total", len(pushed_out), family=self.backend_name, reason="lru")
        return holder

    # -- the interface callers use -------------------------------------------------------------
    async def predict(self, image: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One RGB uint8 image, or an encoded image's bytes (decoded here, beside the model, boxes in
        its own pixels) -> its detections (as dicts). Concurrent calls are batched.

        Where the bytes are decoded: on a GPU replica in a thread of their own before batching (the
        decodes of a batch run in parallel while the GPU works); on a CPU replica on the model thread,
        with its batch (_predict_group): the model's threads already take the cores, a decode beside them
        only fights them for a core, and it saves a thread hand-off per request."""
        scale, info = 1.0, None
        if isinstance(image, bytes):  # the header now (Invalid / TooLarge before any model loads)
            info = probe(image, max_decode_pixels=self.settings.max_image_pixels)
        holder = await self._model()
        if isinstance(image, bytes) and self.device != "cpu":
            side = self._input_side(holder, _predict_options(options or {}))
            image, scale = await asyncio.to_thread(self._decode_sized, image, side, info)
        elif info is not None:
            image = _Encoded(image, info)
        result = await self._predict_batch(holder, image, dict(options or {}))
        if isinstance(result, _Failed):
            raise result.exc
        return scale_boxes(result, scale)

    async def predict_many(self, images: list[Any],
                           options: dict[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """Several RGB uint8 images of one model (a video's frames) -> their detections, in order: one
        batch on the model thread, without a call and a trip through @serve.batch per image."""
        answers = await self.predict_each(images, options)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers

    async def predict_each(self, images: list[Any], options: dict[str, Any] | None = None) -> list[Any]:
        """Several images of one model (encoded bytes or RGB arrays) grouped by the caller
        (serving/grouping.py) -> per image, its detections or the domain error it failed with alone (an
        image that does not decode); one batch on the model thread, decoded there with it."""
        holder = await self._model()
        self._count_batch(len(images))
        started = time.perf_counter()
        try:
            answers = await self._in_thread(self._predict_group, holder, list(images),
                                            _predict_options(options or {}))
        except Exception as exc:
            raise self._domain_error(exc) from None
        self.metrics.observe("raysight_predict_seconds", time.perf_counter() - started, family=self.backend_name)
        return [answer.exc if isinstance(answer, _Failed) else answer for answer in answers]

    def _decode_sized(self, data: bytes, side: int | None, info: ImageInfo | None = None) -> tuple[Any, float]:
        """An encoded image as RGB, decoded smaller where the model would scale it down to `side`
        anyway (imaging.jpeg_reduction), with the scale back to its own pixels (`info`: its probe, if
        already made)."""
        return decode_sized(data, max_pixels=MAX_INFER_PIXELS, max_decode_pixels=self.settings.max_image_pixels,
                            min_side=side, info=info)

    def _input_side(self, holder: LoadedModel, opts: Any) -> int | None:
        """The long side the family resizes an image to (Backend.input_side); None where the plugin
        cannot say (then the image is decoded whole)."""
        try:
            side = self.backend.input_side(holder.get(), opts)
        except RaysightError:  # e.g. the model was removed: predict says so
            return None
        except Exception:  # a plugin's bug here must not fail the request: decode at full size
            log.exception("%s: input_side failed", self.backend_name)
            return None
        return int(side) if side else None

    async def run(self, op: str, payload: dict[str, Any]) -> Any:
        """A family-specific operation on the request's model (backend.run), in a thread."""
        holder = await self._model()

        def call() -> Any:
            with holder.lock:
                return self.backend.run(holder.get(), op, payload)

        try:
            return await self._in_thread(call)
        except NotImplementedError as exc:
            raise Invalid(str(exc) or f"{self.backend_name} has no operation '{op}'") from exc

    async def _run_batch(
        self, holders: list[LoadedModel], images: list[Any], options: list[dict[str, Any]]
    ) -> list[list[dict[str, Any]] | _Failed]:
        """Serve splits batches by multiplexed model id; options may still differ: group by both."""
        self._count_batch(len(images))
        groups: dict[tuple[int, str], list[int]] = {}
        for i, (holder, opts) in enumerate(zip(holders, options, strict=True)):
            groups.setdefault((id(holder), repr(sorted(opts.items()))), []).append(i)
        results: list[Any] = [None] * len(images)
        for indices in groups.values():
            holder, opts = holders[indices[0]], _predict_options(options[indices[0]])
            batch = [images[i] for i in indices]
            started = time.perf_counter()
            try:
                answers = await self._in_thread(self._predict_group, holder, batch, opts)
                self.metrics.observe("raysight_predict_seconds", time.perf_counter() - started,
                                     family=self.backend_name)
                for i, answer in zip(indices, answers, strict=True):
                    results[i] = answer
            except Exception as exc:
                failure = _Failed(self._domain_error(exc))
                for i in indices:
                    results[i] = failure
        return results

    def _count_batch(self, size: int) -> None:
        self.stats["batches"] += 1
        self.stats["batched_items"] += size
        self.stats["max_batch_seen"] = max(self.stats["max_batch_seen"], size)
        self.metrics.observe("raysight_batch_size", size, family=self.backend_name)

    def _predict_group(self, holder: LoadedModel, items: list[Any], opts: Any) -> list[Any]:
        """On the model thread: decode the group's encoded images (one thread hand-off per batch for
        decode and model, not one per image), predict, and answer per item with dicts, boxes in each
        image's own pixels (or a _Failed for an image that does not decode)."""
        answers: list[Any] = [None] * len(items)
        images, scales, where = [], [], []
        side = self._input_side(holder, opts) if any(isinstance(item, bytes | _Encoded) for item in items) else None
        for i, item in enumerate(items):
            if isinstance(item, bytes | _Encoded):
                encoded = item if isinstance(item, _Encoded) else _Encoded(item)
                try:
                    image, scale = self._decode_sized(encoded.data, side, encoded.info)
                except Exception as exc:
                    answers[i] = _Failed(self._domain_error(exc))
                    continue
            else:
                image, scale = item, 1.0
            images.append(image)
            scales.append(scale)
            where.append(i)
        if images:
            with holder.lock:
                dets = self.backend.predict(holder.get(), images, opts)
            for i, scale, per_image in zip(where, scales, dets, strict=True):
                answers[i] = scale_boxes([d.as_dict() for d in per_image], scale)
        return answers

    def _domain_error(self, exc: Exception) -> Exception:
        """A plugin's failure as a domain error (Ray's own failures are translated by the caller's side,
        serving/predictor.py)."""
        if isinstance(exc, RaysightError):
            return exc
        if isinstance(exc, NotImplementedError):
            return Invalid(f"{self.backend_name} models have no predict")
        log.exception("%s predict failed", self.backend_name, exc_info=exc)
        return Unavailable(f"inference failed: {public_message(exc)}")

    # -- eviction ------------------------------------------------------------------------------
    def _cache(self) -> Any:
        """Serve's LRU of this replica's multiplexed function (None before the first load)."""
        return getattr(self._load_fn, _MULTIPLEX_ATTR, None)

    def loaded_keys(self) -> list[str]:
        wrapper = self._cache()
        return list(wrapper.models) if wrapper is not None else []

    async def evict(self, model_id: str) -> list[str]:
        """Drop every loaded version of `model_id` from this replica; returns the dropped keys.

        Serve has no public "unload" for multiplexed models: this pops the key from the replica's
        multiplex LRU (and asks Serve to re-publish this replica's model ids so routing follows).
        The holder is emptied too, so memory is released even if Serve's internals change."""
        wrapper = self._cache()
        if wrapper is None:
            return []
        dropped = [k for k in list(wrapper.models) if k.split("@", 1)[0] == model_id]
        for key in dropped:
            holder = wrapper.models.pop(key, None)
            if isinstance(holder, LoadedModel):
                holder.model = None
        if dropped:
            self.stats["evictions"] += len(dropped)
            self._known.difference_update(dropped)
            self.metrics.inc("raysight_model_evictions_total", len(dropped), family=self.backend_name,
                             reason="deleted")
            wrapper._push_multiplexed_replica_info = True
            log.info("%s: evicted %s", self.backend_name, dropped)
        return dropped

    def _ensure_reconciler(self) -> None:
        if self._reconciler is None and self.options.reconcile_interval_s > 0:
            self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def _reconcile_forever(self) -> None:
        """Every replica checks its own registry models against the registry: a deleted model or an
        outdated version is dropped. This is the reliable half of eviction (Serve cannot broadcast a
        call to all replicas); ServePredictor.evict is the immediate, best-effort half."""
        while True:
            await asyncio.sleep(self.options.reconcile_interval_s)
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling loaded models failed")

    async def reconcile(self) -> list[str]:
        dropped: list[str] = []
        for key in self.loaded_keys():
            if key.startswith("builtin:"):
                continue
            model_id = key.split("@", 1)[0]
            try:
                _, current = await asyncio.to_thread(self.catalog.serving_key, model_id)
            except NotFound:
                current = None
            if current != key:
                wrapper = self._cache()
                holder = wrapper.models.pop(key, None) if wrapper is not None else None
                if holder is not None:
                    holder.model = None
                    wrapper._push_multiplexed_replica_info = True
                    self.stats["evictions"] += 1
                    self._known.discard(key)
                    self.metrics.inc("raysight_model_evictions_total", family=self.backend_name, reason="outdated")
                    dropped.append(key)
        return dropped

    # -- introspection -------------------------------------------------------------------------
    async def info(self) -> dict[str, Any]:
        """What /health and tests want to know about this replica."""
        import torch
        from ray import get_runtime_context

        return {
            "backend": self.backend_name,
            "device": self.device,
            "cuda_available": bool(torch.cuda.is_available()),
            "num_gpus": self.options.num_gpus,
            "gpu_ids": [str(g) for g in get_runtime_context().get_accelerator_ids().get("GPU", [])],
            "assigned_resources": dict(get_runtime_context().get_assigned_resources()),
            "torch_threads": await self._in_thread(torch.get_num_threads),
            "loaded_models": self.loaded_keys(),
            "max_num_models_per_replica": self.options.max_num_models_per_replica,
            "max_batch_size": self.options.max_batch_size,
            "batch_wait_timeout_s": self.options.batch_wait_timeout_s,
            "pid": os.getpid(),
            "node_id": get_runtime_context().get_node_id(),
            "stats": dict(self.stats),
        }

    def reconfigure_batching(self, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        """Change batching on this replica (the batch wrapper's public setters)."""
        self.options.max_batch_size = int(max_batch_size)
        self.options.batch_wait_timeout_s = float(batch_wait_timeout_s)
        self._predict_batch.set_max_batch_size(self.options.max_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(self.options.batch_wait_timeout_s)

    def check_health(self) -> None:
        """Serve's health check: the replica is alive while its event loop answers."""
