"""Records of the PaddleX dialect: its datasets, projects, tasks and model records, numbered per kind
(D0001, P0001, T0001, PM0001, EM0001) and pointing at the core's rows (datasets, training jobs, models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from raysight.store.models.base import Base, Timestamps


class PaddlexRecord(Timestamps, Base):
    """One PaddleX structure. `kind` is dataset / project / task / pretrained / exported; `ref` the core id
    it maps onto (dataset id, training job id, model id); `attrs` the dialect's other fields."""

    __tablename__ = "paddlex_records"
    __table_args__ = (UniqueConstraint("kind", "number"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255), default="")
    desc: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), default="")
    parent: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
