from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raysight.store.models.base import Base, Timestamps


class TrainJob(Timestamps, Base):
    __tablename__ = "train_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(16), default="v1")
    model_name: Mapped[str] = mapped_column(String(255))
    plugin: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(16))
    base_model_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    epochs: Mapped[int] = mapped_column(Integer)
    imgsz: Mapped[int] = mapped_column(Integer)
    batch: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued / running / completed / failed / stopped
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    log_file: Mapped[str | None] = mapped_column(Text, nullable=True)
    storage_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    run_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    checkpoint_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pretrained: Mapped[bool] = mapped_column(Boolean, default=False)
    eta_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # the epoch the last resume continued from (0: no checkpoint, restarted from the beginning)
    resumed_from_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
