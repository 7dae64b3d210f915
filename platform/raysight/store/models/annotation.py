from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from raysight.store.models.base import Base, Timestamps


class AnnotationTask(Timestamps, Base):
    __tablename__ = "annotation_tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)

    items: Mapped[list[AnnotationItem]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="AnnotationItem.position"
    )


class AnnotationItem(Base):
    __tablename__ = "annotation_items"
    __table_args__ = (UniqueConstraint("task_id", "image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("annotation_tasks.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)
    image_path: Mapped[str] = mapped_column(Text)  # relative to the workspace
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    has_annotation: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    task: Mapped[AnnotationTask] = relationship(back_populates="items")
