"""The dialect's numbered records (table paddlex_records): D0001 datasets, P0001 projects, T0001 tasks,
PM0001 pretrained and EM0001 exported model records. Ids come from raysight.ids.sequential_code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from raysight.context import Platform
from raysight.errors import Invalid, NotFound
from raysight.ids import sequential_code
from raysight.store.models import PaddlexRecord
from raysight.store.models.base import iso

PREFIX = {"dataset": "D", "project": "P", "task": "T", "pretrained": "PM", "exported": "EM"}
WHAT = {"dataset": "dataset", "project": "project", "task": "task", "pretrained": "pretrained model",
        "exported": "exported model"}


def as_dict(row: PaddlexRecord) -> dict[str, Any]:
    return {"id": row.code, "kind": row.kind, "name": row.name, "desc": row.desc, "type": row.type,
            "parent": row.parent, "ref": row.ref, "attrs": dict(row.attrs or {}),
            "create_time": iso(row.created_at)}


def create(*, ctx: Platform, kind: str, name: str = "", desc: str = "", type: str = "",
           parent: str | None = None, ref: str | None = None, attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new record with the next free number of its kind (retried when two requests race for one)."""
    for _ in range(5):
        try:
            with ctx.db.session() as s:
                number = (s.scalar(select(func.max(PaddlexRecord.number)).where(PaddlexRecord.kind == kind))
                          or 0) + 1
                row = PaddlexRecord(code=sequential_code(PREFIX[kind], number), kind=kind, number=number,
                                    name=name, desc=desc, type=type, parent=parent, ref=ref,
                                    attrs=dict(attrs or {}))
                s.add(row)
                s.flush()
                return as_dict(row)
        except IntegrityError:
            continue
    raise Invalid(f"could not number a new {WHAT[kind]}; retry")


def _load(s: Any, kind: str, code: object) -> PaddlexRecord:
    if not isinstance(code, str) or not code.strip():
        raise Invalid(f"a {WHAT[kind]} id ({PREFIX[kind]}0001...) is required")
    row = s.get(PaddlexRecord, code.strip())
    if row is None or row.kind != kind:
        raise NotFound(f"{WHAT[kind]} '{code}' not found")
    return row


def get(*, ctx: Platform, kind: str, code: object) -> dict[str, Any]:
    with ctx.db.session() as s:
        return as_dict(_load(s, kind, code))


def list_of(*, ctx: Platform, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
    """Records of one kind in id order (only those under `parent` when given)."""
    with ctx.db.session() as s:
        query = select(PaddlexRecord).where(PaddlexRecord.kind == kind)
        if parent is not None:
            query = query.where(PaddlexRecord.parent == parent)
        return [as_dict(r) for r in s.scalars(query.order_by(PaddlexRecord.number))]


def update(*, ctx: Platform, kind: str, code: str, attrs: dict[str, Any] | None = None,
           **fields: Any) -> dict[str, Any]:
    """Change columns (`fields`) and merge `attrs` into the record's attributes."""
    with ctx.db.session() as s:
        row = _load(s, kind, code)
        for key, value in fields.items():
            setattr(row, key, value)
        if attrs:
            row.attrs = {**(row.attrs or {}), **attrs}
        s.flush()
        return as_dict(row)


def delete(*, ctx: Platform, kind: str, code: str) -> None:
    with ctx.db.session() as s:
        s.delete(_load(s, kind, code))
