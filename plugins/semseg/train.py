"""Semantic segmentation training with its own loop on Ray Train workers (like raysight_resnet).

`prepare_model` (DDP when several workers) and `prepare_data_loader` (a DistributedSampler) split the
data between workers. Each epoch reports loss, val_loss, mIoU, pixel_accuracy and the IoU of each class
(``iou/<class>``), with a checkpoint (last.pth: weights + optimizer + epoch + history; best.pth: the
best mIoU so far); resume restores all of it and continues the epoch count. Images are preprocessed as
serving does (raysight_semseg.data.preprocess).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from raysight.training.worker import TrainSession, discard
from raysight.weights_io import load_tensors
from raysight_semseg.data import IGNORE, SegDataset, confusion, pairs, scores
from raysight_semseg.model import Logits, arch_of, build, load_start_weights, save_weights


def fresh_running_stats(norms: list[Any]) -> None:
    """BatchNorm statistics of this epoch alone (a plain average over its batches). torchvision's
    MobileNetV3 updates them with momentum 0.01, so after the few hundred steps of a short run from fresh
    weights they still hold their start values and the model in eval mode labels everything background."""
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None


def _evaluate(model: Any, loader: Any, world_size: int, n: int) -> tuple[float, dict[str, Any]]:
    """(mean loss, scores) over every worker's share of the validation set."""
    import torch
    import torch.distributed as dist

    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(2 + n * n, dtype=torch.float64, device=device)
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            totals[0] += float(torch.nn.functional.cross_entropy(out, y, ignore_index=IGNORE, reduction="sum"))
            totals[1] += float((y != IGNORE).sum())
            matrix = confusion(out.argmax(1).cpu().numpy(), y.cpu().numpy(), n)
            totals[2:] += torch.from_numpy(matrix.reshape(-1)).to(device=device, dtype=torch.float64)
    if world_size > 1 and dist.is_initialized():
        dist.all_reduce(totals)
    matrix = totals[2:].cpu().numpy().reshape(n, n).astype(np.int64)
    return float(totals[0]) / max(1.0, float(totals[1])), scores(matrix)


def _metrics(loss: float, val_loss: float, s: dict[str, Any], classes: list[str]) -> dict[str, float]:
    out = {"loss": loss, "val_loss": val_loss, "mIoU": s["mIoU"], "pixel_accuracy": s["pixel_accuracy"]}
    out.update({f"iou/{name}": float(v) for name, v in zip(classes, s["iou"], strict=True) if not np.isnan(v)})
    return out


def train_loop(config: dict[str, Any]) -> None:
    import torch
    from ray.train.torch import prepare_data_loader, prepare_model
    from torch.utils.data import DataLoader

    session = TrainSession.for_config(config)
    c = session.ctx
    params = dict(c.params)
    torch.manual_seed(int(params.get("seed", 0)) + session.rank)
    np.random.seed(int(params.get("seed", 0)) + session.rank)
    arch = arch_of(c.model_name)
    root = Path(c.data)
    root = root.parent if root.is_file() else root
    n = len(c.classes)
    train_set = SegDataset(pairs(root, "train"), c.imgsz, augment=True)
    val_set = SegDataset(pairs(root, "val"), c.imgsz, augment=False)
    if len(train_set) == 0:
        raise ValueError(f"no training images with label PNGs under {root / 'images' / 'train'}")
    if len(val_set) == 0:
        session.log("WARNING: no validation images: validating on the training images")
        val_set = SegDataset(pairs(root, "train"), c.imgsz, augment=False)
    total_batch = c.batch if c.batch > 0 else min(8, len(train_set))
    per_worker = max(2, total_batch // session.world_size)  # BatchNorm needs 2 per batch
    workers = int(params.get("workers", 0))
    train_loader = prepare_data_loader(DataLoader(train_set, batch_size=per_worker, shuffle=True,
                                                  num_workers=workers, drop_last=len(train_set) > per_worker))
    val_loader = prepare_data_loader(DataLoader(val_set, batch_size=per_worker, shuffle=False, num_workers=workers))

    net = build(arch, n)
    if c.weights:
        load_start_weights(net, c.weights)
    else:
        session.log(f"No pretrained weights for {arch}: training from fresh weights")
    start, best_miou, best_state, history, optimizer_state = 0, -1.0, None, [], None
    with session.restored() as (folder, _epoch):
        if folder is not None and (folder / "last.pth").is_file():
            ckpt = load_tensors(folder / "last.pth")
            net.load_state_dict(ckpt["state_dict"])
            optimizer_state = ckpt["optimizer"]
            start, best_miou = int(ckpt["epoch"]), float(ckpt.get("best_miou", -1.0))
            history = list(ckpt.get("history", []))
            if (folder / "best.pth").is_file():
                best_state = load_tensors(folder / "best.pth")["state_dict"]
    model = prepare_model(Logits.wrap(net))
    plain = model.module if hasattr(model, "module") else model
    optimizer = torch.optim.AdamW(plain.parameters(), lr=float(params.get("lr", 3e-3)),
                                  weight_decay=float(params.get("weight_decay", 1e-4)))
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    session.log(f"{len(train_set)} training / {len(val_set)} validation images, {n} classes, "
                f"batch {per_worker} per worker x {session.world_size}", flush=True)
    norms = [m for m in plain.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for epoch in range(start, c.epochs):
        if session.world_size > 1 and hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        model.train()
        fresh_running_stats(norms)
        seen, loss_sum = 0, 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss) * len(y)
            seen += len(y)
        val_loss, s = _evaluate(model, val_loader, session.world_size, n)
        metrics = _metrics(loss_sum / max(1, seen), val_loss, s, c.classes)
        history.append({"epoch": epoch + 1, **metrics})
        if s["mIoU"] > best_miou:
            best_miou = s["mIoU"]
            best_state = {k: v.detach().clone() for k, v in plain.inner.state_dict().items()}
        folder = None
        if session.is_chief:
            folder = session.scratch(f"epoch{epoch + 1}")
            save_weights(folder / "last.pth", arch=arch, classes=c.classes, state_dict=plain.inner.state_dict(),
                         imgsz=c.imgsz, optimizer=optimizer.state_dict(), epoch=epoch + 1, best_miou=best_miou,
                         history=history)
            save_weights(folder / "best.pth", arch=arch, classes=c.classes, state_dict=best_state, imgsz=c.imgsz)
        try:
            session.report(epoch + 1, metrics, folder)
        finally:
            discard(folder)
    if best_state is None:
        best_state = plain.inner.state_dict()
    best = next((h for h in history if h.get("mIoU") == best_miou), history[-1] if history else {})
    artifacts = session.scratch("final") if session.is_chief else None
    plots: list[str] = []
    if artifacts is not None:
        save_weights(artifacts / "best.pth", arch=arch, classes=c.classes, state_dict=best_state, imgsz=c.imgsz)
        if params.get("plots", True):
            plots = _plots(artifacts, history)
    session.finish(artifacts or Path("."), weights="best.pth", plots=plots, epoch=c.epochs,
                   metrics={k: best[k] for k in ("mIoU", "pixel_accuracy", "loss", "val_loss") if k in best})
    discard(artifacts)


def _plots(folder: Path, history: list[dict[str, float]]) -> list[str]:
    """results.png: losses and mIoU / pixel accuracy per epoch."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(epochs, [h.get("loss") for h in history], label="train loss")
    axes[0].plot(epochs, [h.get("val_loss") for h in history], label="val loss")
    axes[1].plot(epochs, [h.get("mIoU") for h in history], label="val mIoU")
    axes[1].plot(epochs, [h.get("pixel_accuracy") for h in history], label="val pixel accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "results.png", dpi=80)
    plt.close(fig)
    return ["results.png"]
