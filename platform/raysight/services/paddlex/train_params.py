"""Training parameters of a PaddleX task: recommended defaults per project type, model and the GPUs the
cluster has (GET /project/task/params with pid), checked values (POST), and their translation onto a
core training job."""

from __future__ import annotations

from typing import Any

from raysight.capabilities import Capability
from raysight.context import Platform
from raysight.errors import Invalid, Unavailable
from raysight.services import system
from raysight.services.capabilities import provider
from raysight.services.paddlex.enums import CORE_TASK

# Small-data defaults a PaddleX user can start from (they can be changed before training).
RECOMMENDED = {"classify": {"num_epochs": 10, "batch_size": 32, "learning_rate": 0.001},
               "detect": {"num_epochs": 20, "batch_size": 8, "learning_rate": 0.01}}
KEYS = ("model", "num_epochs", "batch_size", "learning_rate", "image_shape", "gpu_list", "use_gpu",
        "pretrain_weights", "save_interval_epochs", "params")


def gpu_count(ctx: Platform) -> int:
    return int(system.cluster_resources(ctx=ctx).get("GPU", 0.0))


def _backend_for(ctx: Platform, project_type: str, model_type: str | None) -> Any:
    task = CORE_TASK[project_type]
    if model_type:
        backend = ctx.plugins.backend_for_model_name(str(model_type))
        if backend is None or str(backend.task) != task:
            raise Invalid(f"model_type '{model_type}' is not a {project_type} model this platform trains")
        return backend
    try:
        return provider(ctx, Capability(task), requires=(Capability.TRAIN,))
    except (Unavailable, ValueError):
        raise Invalid(f"no installed plugin trains {project_type} models") from None


def _gpus(ctx: Platform, gpu_list: object) -> list[int]:
    if gpu_list is None:
        gpu_list = [0]
    if not isinstance(gpu_list, list) or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0
                                                 for g in gpu_list):
        raise Invalid("gpu_list must be a list of GPU numbers")
    have = gpu_count(ctx)
    if have == 0:
        return []
    wrong = [g for g in gpu_list if g >= have]
    if wrong:
        raise Invalid(f"gpu_list names GPUs {wrong} but the cluster has {have} GPU(s)")
    return list(dict.fromkeys(gpu_list))


def recommended(*, ctx: Platform, project_type: str, model_type: object = None,
                gpu_list: object = None) -> dict[str, Any]:
    """The train dict a new task of this project type would start from."""
    backend = _backend_for(ctx, project_type, model_type if isinstance(model_type, str) else None)
    if model_type is not None and not isinstance(model_type, str):
        raise Invalid("model_type must be a model name")
    gpus = _gpus(ctx, gpu_list)
    base = RECOMMENDED.get(str(backend.task), RECOMMENDED["detect"])
    model = str(model_type or backend.default_model_name or backend.name)
    imgsz = int(backend.default_params.get("imgsz", 640))
    weights = ctx.workspace.weights_file(model if "." in model else f"{model}.pth")
    return {"model": model, "num_epochs": base["num_epochs"], "batch_size": base["batch_size"] * max(1, len(gpus)),
            "learning_rate": base["learning_rate"], "image_shape": [imgsz, imgsz], "gpu_list": gpus,
            "use_gpu": bool(gpus), "pretrain_weights": weights.name if weights.is_file() else "",
            "save_interval_epochs": 1, "params": {}}


def check(*, ctx: Platform, project_type: str, train: object) -> dict[str, Any]:
    """A client's train dict, completed from the recommended one and checked."""
    if not isinstance(train, dict):
        raise Invalid("train must be an object of training parameters")
    unknown = sorted(set(train) - set(KEYS))
    if unknown:
        raise Invalid(f"unknown training parameters {unknown} (known: {list(KEYS)})")
    out = recommended(ctx=ctx, project_type=project_type, model_type=train.get("model"),
                      gpu_list=train.get("gpu_list"))
    out.update({k: v for k, v in train.items() if k not in ("gpu_list", "use_gpu")})
    for key in ("num_epochs", "batch_size", "save_interval_epochs"):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < 1:
            raise Invalid(f"train.{key} must be a positive integer")
    if isinstance(out["learning_rate"], bool) or not isinstance(out["learning_rate"], int | float) \
            or not 0 < out["learning_rate"] < 10:
        raise Invalid("train.learning_rate must be a number in (0, 10)")
    shape = out["image_shape"]
    if not isinstance(shape, list) or len(shape) != 2 or not all(isinstance(v, int) and 32 <= v <= 8192
                                                                 for v in shape):
        raise Invalid("train.image_shape must be [width, height] in pixels (32-8192)")
    if not isinstance(out["params"], dict):
        raise Invalid("train.params must be an object of the model family's training options")
    return out


def job_arguments(train: dict[str, Any]) -> dict[str, Any]:
    """create_job's keyword arguments for a checked train dict."""
    lr = float(train["learning_rate"])
    return {"model_name": train["model"], "epochs": int(train["num_epochs"]), "imgsz": max(train["image_shape"]),
            "batch": int(train["batch_size"]), "params": {"lr": lr, "lr0": lr, **train.get("params", {})}}


def save_pickle(folder: Any, train: dict[str, Any]) -> None:
    """params.pkl in the task's folder, as the document says the server keeps it (plain dict of scalars and
    lists, written by pickle and only ever read back by this platform's own code)."""
    import pickle

    (folder / "params.pkl").write_bytes(pickle.dumps(dict(train)))
