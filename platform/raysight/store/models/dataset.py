from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from raysight.store.models.base import Base, Timestamps


class Dataset(Timestamps, Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # uploaded -> preparing -> prepared (failed keeps the previous versions usable)
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)  # yolo/coco/voc/classify
    task_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # detect/classify
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who holds the "preparing" status ("host:pid") and since when: a lock a dead or stuck
    # prepare cannot keep forever (services.datasets decides when it is stale).
    prepare_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prepare_started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="DatasetVersion.number"
    )


class DatasetVersion(Timestamps, Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    task_type: Mapped[str] = mapped_column(String(16))
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    class_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    split_ratio: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    train_count: Mapped[int] = mapped_column(Integer, default=0)
    val_count: Mapped[int] = mapped_column(Integer, default=0)
    test_count: Mapped[int] = mapped_column(Integer, default=0)
    data_yaml: Mapped[str | None] = mapped_column(Text, nullable=True)
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # unusable source items

    dataset: Mapped[Dataset] = relationship(back_populates="versions")

    @property
    def name(self) -> str:
        return f"v{self.number}"
