"""AutoSele networks: the architecture templates the plugins offer (/src_network) and named network
records made from one (/create_net, /network, /network_history)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from raysight.backend import Operation
from raysight.context import Platform
from raysight.errors import Conflict, Invalid
from raysight.ids import timestamped_id
from raysight.services.autosele.common import check_name, stamp
from raysight.store.models import AutoseleNetwork


def templates(*, ctx: Platform) -> list[str]:
    """Model names of every trainable family the plugin registry knows (yolov8n.pt, resnet18...),
    grouped by family in registry order: whatever plugins are installed, nothing hard-coded."""
    trainable = {name for name, b in ctx.plugins.backends.items() if b.supports(Operation.TRAIN)}
    by_family: dict[str, list[str]] = {}
    for model_name, backend in ctx.plugins.model_names.items():
        if backend in trainable:
            by_family.setdefault(backend, []).append(model_name)
    return [name for family in sorted(by_family) for name in by_family[family]]


def create(*, ctx: Platform, network_name: str, src_net: str | None, net_describe: str = "") -> str:
    """Record a network named `network_name` built from template `src_net` (default: the first
    template /src_network lists). Returns its task_id."""
    name = check_name(network_name, "network_name")
    offered = templates(ctx=ctx)
    if not offered:
        raise Invalid("no installed plugin offers a trainable architecture")
    src = (src_net or offered[0]).strip()
    if src.lower() not in offered:
        raise Invalid(f"src_net '{src}' is not an architecture template (see /src_network)")
    backend = ctx.plugins.backend_for_model_name(src)
    assert backend is not None  # listed by templates()
    task_id = timestamped_id("net")
    with ctx.db.session() as s:
        if s.scalar(select(AutoseleNetwork.id).where(AutoseleNetwork.net_name == name)) is not None:
            raise Conflict(f"a network named '{name}' already exists")
        s.add(AutoseleNetwork(task_id=task_id, net_name=name, net_describe=net_describe or "", src_net=src.lower(),
                              plugin=backend.name, task_type=str(backend.task), status="created"))
    return task_id


def names(*, ctx: Platform) -> list[str]:
    """Network names, oldest first (/network)."""
    with ctx.db.session() as s:
        return list(s.scalars(select(AutoseleNetwork.net_name).order_by(AutoseleNetwork.id)))


def history(*, ctx: Platform) -> list[dict[str, Any]]:
    """Every network record (/network_history)."""
    with ctx.db.session() as s:
        rows = s.scalars(select(AutoseleNetwork).order_by(AutoseleNetwork.id)).all()
        return [{"id": r.id, "task_id": r.task_id, "status": r.status, "net_name": r.net_name,
                 "net_describe": r.net_describe, "src_net": r.src_net, "plugin": r.plugin,
                 "task_type": r.task_type, **stamp(r)} for r in rows]
