"""ResNet classification training with its own loop on Ray Train workers.

`ray.train.torch.prepare_model` (DDP when several workers) and `prepare_data_loader` (a
DistributedSampler) make several workers really split the data. Each epoch reports loss, val_loss,
accuracy, the accuracy of each class (``class_acc/<class>``, classes with validation images) and a
checkpoint (last.pth: weights + optimizer + epoch; best.pth: the best weights so far);
resume restores all of it and continues the epoch count. Images are preprocessed exactly as serving
does (raysight_resnet.predict.preprocess): whole image resized to imgsz, ImageNet normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from raysight.training.worker import TrainSession, discard
from raysight.weights_io import load_tensors
from raysight_resnet.model import arch_of, build_resnet, load_start_weights, save_weights, start_channels, with_channels

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class FolderDataset:
    """<root>/<class>/*.jpg with the job's class order; returns (CHW float tensor, class index)."""

    def __init__(self, root: Path, classes: list[str], imgsz: int, augment: bool) -> None:
        self.items: list[tuple[Path, int]] = []
        for index, name in enumerate(classes):
            folder = root / name
            if folder.is_dir():
                self.items += [(p, index) for p in sorted(folder.iterdir()) if p.suffix.lower() in SUFFIXES]
        self.imgsz, self.augment = imgsz, augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        import torch
        from PIL import Image

        from raysight_resnet.predict import preprocess

        path, label = self.items[i]
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        if self.augment and np.random.random() < 0.5:
            rgb = rgb[:, ::-1].copy()
        return torch.from_numpy(preprocess([rgb], self.imgsz)[0]), label


def _evaluate(net: Any, loader: Any, world_size: int, n_classes: int) -> tuple[float, float, list[float | None]]:
    """(mean loss, accuracy, accuracy per class: None for a class without validation images) over
    every worker's share of the validation set."""
    import torch
    import torch.distributed as dist

    net.eval()
    # on the batches' device: bincount of CUDA labels cannot add into a CPU tensor, and NCCL
    # (Ray Train's backend on GPUs) all-reduces device tensors only
    totals = torch.zeros(3 + 2 * n_classes, dtype=torch.float64, device=next(net.parameters()).device)
    with torch.no_grad():
        for x, y in loader:
            out = net(x)
            hit = out.argmax(1) == y
            totals[0] += float(torch.nn.functional.cross_entropy(out, y, reduction="sum"))
            totals[1] += float(hit.sum())
            totals[2] += len(y)
            totals[3:3 + n_classes] += torch.bincount(y[hit], minlength=n_classes)[:n_classes].double()
            totals[3 + n_classes:] += torch.bincount(y, minlength=n_classes)[:n_classes].double()
    if world_size > 1 and dist.is_initialized():
        dist.all_reduce(totals)
    n = max(1.0, float(totals[2]))
    per_class = [float(totals[3 + i] / totals[3 + n_classes + i]) if totals[3 + n_classes + i] > 0 else None
                 for i in range(n_classes)]
    return float(totals[0]) / n, float(totals[1]) / n, per_class


def _plots(folder: Path, history: list[dict[str, float]], net: Any, dataset: FolderDataset,
           classes: list[str]) -> list[str]:
    """results.png (loss and accuracy per epoch) and confusion_matrix.png (best weights, val set)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import torch
    except ImportError:
        return []
    written = []
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(epochs, [h.get("loss") for h in history], label="train loss")
    axes[0].plot(epochs, [h.get("val_loss") for h in history], label="val loss")
    axes[0].legend()
    axes[1].plot(epochs, [h.get("accuracy") for h in history], label="val accuracy")
    axes[1].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(folder / "results.png", dpi=80)
    plt.close(fig)
    written.append("results.png")
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    net.eval()
    with torch.no_grad():
        for i in range(len(dataset)):
            x, y = dataset[i]
            matrix[y, int(net(x[None]).argmax(1))] += 1
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (r, col), v in np.ndenumerate(matrix):
        ax.text(col, r, str(v), ha="center", va="center")
    fig.tight_layout()
    fig.savefig(folder / "confusion_matrix.png", dpi=80)
    plt.close(fig)
    written.append("confusion_matrix.png")
    return written


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
    train_set = FolderDataset(root / "train", c.classes, c.imgsz, augment=True)
    val_set = FolderDataset(root / "val", c.classes, c.imgsz, augment=False)
    if len(train_set) == 0:
        raise ValueError(f"no training images under {root / 'train'}")
    if len(val_set) == 0:
        session.log("WARNING: no validation images: validating on the training images")
        val_set = FolderDataset(root / "train", c.classes, c.imgsz, augment=False)
    total_batch = c.batch if c.batch > 0 else min(32, len(train_set))
    per_worker = max(1, total_batch // session.world_size)
    workers = int(params.get("workers", 0))
    train_loader = prepare_data_loader(DataLoader(train_set, batch_size=per_worker, shuffle=True,
                                                  num_workers=workers, drop_last=len(train_set) > per_worker))
    val_loader = prepare_data_loader(DataLoader(val_set, batch_size=per_worker, shuffle=False, num_workers=workers))

    net = build_resnet(arch, len(c.classes))
    channels = start_channels(c.weights) if c.weights else None
    pruned: dict[str, Any] = {"channels": channels} if channels else {}  # kept in every file this run saves
    if channels:  # fine-tuning a pruned model: its structure, rebuilt from the kept channel counts
        net = with_channels(net, channels)
        session.log(f"Fine-tuning a pruned {arch}: {sum(p.numel() for p in net.parameters())} parameters")
    if c.weights:
        load_start_weights(net, c.weights)
    else:
        session.log(f"No pretrained weights for {arch}: training from fresh weights")
    start, best_accuracy, best_state, history, optimizer_state = 0, -1.0, None, [], None
    with session.restored() as (folder, _epoch):
        if folder is not None and (folder / "last.pth").is_file():
            ckpt = load_tensors(folder / "last.pth")
            net.load_state_dict(ckpt["state_dict"])
            optimizer_state = ckpt["optimizer"]
            start, best_accuracy = int(ckpt["epoch"]), float(ckpt.get("best_accuracy", -1.0))
            history = list(ckpt.get("history", []))
            if (folder / "best.pth").is_file():
                best_state = load_tensors(folder / "best.pth")["state_dict"]
    model = prepare_model(net)
    plain = model.module if hasattr(model, "module") else model
    # built over the parameters where prepare_model put them (the GPU): a restored optimizer state is
    # then moved to the same device by load_state_dict, instead of staying on the CPU
    optimizer = torch.optim.AdamW(plain.parameters(), lr=float(params.get("lr", 1e-3)),
                                  weight_decay=float(params.get("weight_decay", 1e-4)))
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    loss_fn = torch.nn.CrossEntropyLoss()
    session.log(f"{len(train_set)} training / {len(val_set)} validation images, {len(c.classes)} classes, "
                f"batch {per_worker} per worker x {session.world_size}", flush=True)
    share = len(train_loader.sampler) if hasattr(train_loader, "sampler") else len(train_set)
    session.log(f"worker {session.rank}/{session.world_size}: {share} training images", all_ranks=True, flush=True)
    for epoch in range(start, c.epochs):
        if session.world_size > 1 and hasattr(train_loader, "sampler") and hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        model.train()
        seen, loss_sum = 0, 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss) * len(y)
            seen += len(y)
        val_loss, accuracy, per_class = _evaluate(model, val_loader, session.world_size, len(c.classes))
        metrics = {"loss": loss_sum / max(1, seen), "val_loss": val_loss, "accuracy": accuracy,
                   **{f"class_acc/{name}": acc for name, acc in zip(c.classes, per_class, strict=True)
                      if acc is not None}}
        history.append({"epoch": epoch + 1, **metrics})
        if accuracy > best_accuracy:
            best_accuracy = accuracy
            best_state = {k: v.detach().clone() for k, v in plain.state_dict().items()}
        folder = None
        if session.is_chief:
            folder = session.scratch(f"epoch{epoch + 1}")
            save_weights(folder / "last.pth", arch=arch, classes=c.classes, state_dict=plain.state_dict(),
                         imgsz=c.imgsz, optimizer=optimizer.state_dict(), epoch=epoch + 1,
                         best_accuracy=best_accuracy, history=history, **pruned)
            save_weights(folder / "best.pth", arch=arch, classes=c.classes, state_dict=best_state, imgsz=c.imgsz,
                         **pruned)
        try:
            session.report(epoch + 1, metrics, folder)
        finally:
            discard(folder)
    if best_state is None:
        best_state = plain.state_dict()
    best_loss = min((h["val_loss"] for h in history if h.get("accuracy") == best_accuracy), default=None)
    artifacts = session.scratch("final") if session.is_chief else None
    plots: list[str] = []
    if artifacts is not None:
        save_weights(artifacts / "best.pth", arch=arch, classes=c.classes, state_dict=best_state, imgsz=c.imgsz,
                     **pruned)
        if params.get("plots", True):
            final = build_resnet(arch, len(c.classes))
            final = with_channels(final, channels) if channels else final
            final.load_state_dict(best_state)
            plots = _plots(artifacts, history, final, val_set, c.classes)
    session.finish(artifacts or Path("."), weights="best.pth", plots=plots, epoch=c.epochs,
                   metrics={"accuracy": best_accuracy, "loss": best_loss if best_loss is not None else float("nan")})
    discard(artifacts)
