"""AutoSele records (specs/autosele-api.md): networks, data versions, training tasks and releases.

Each row points at core records (dataset, training job, model, tracked task) that hold the work; these
rows keep what the dialect's clients name and see (names, descriptions, their parameters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raysight.store.models.base import Base, Timestamps


class AutoseleNetwork(Timestamps, Base):
    """A network: a name for one of the architecture templates the plugins offer."""

    __tablename__ = "autosele_networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    net_name: Mapped[str] = mapped_column(String(255), unique=True)
    net_describe: Mapped[str] = mapped_column(Text, default="")
    src_net: Mapped[str] = mapped_column(String(255))
    plugin: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="created")


class AutoseleData(Timestamps, Base):
    """A generated data version: a source folder copied into a core dataset and split."""

    __tablename__ = "autosele_data"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)  # the tracked task that builds it
    data_name: Mapped[str] = mapped_column(String(255), unique=True)
    data_describe: Mapped[str] = mapped_column(Text, default="")
    data_type: Mapped[str] = mapped_column(String(32), default="all")
    sour_data: Mapped[str] = mapped_column(Text)
    train: Mapped[float] = mapped_column(Float)
    val: Mapped[float] = mapped_column(Float)
    test: Mapped[float] = mapped_column(Float)
    thread: Mapped[int] = mapped_column(Integer, default=1)
    l_value: Mapped[int] = mapped_column(Integer, default=0)
    dataset_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AutoseleTrain(Timestamps, Base):
    """A training task: names a network and a data version; /starttask runs it as a core training job."""

    __tablename__ = "autosele_trains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    task_name: Mapped[str] = mapped_column(String(255))
    task_desc: Mapped[str] = mapped_column(Text, default="")
    network: Mapped[str | None] = mapped_column(String(255), nullable=True)
    data: Mapped[str | None] = mapped_column(String(255), nullable=True)
    data_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    category_num: Mapped[int | None] = mapped_column(Integer, nullable=True)
    num_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    steps: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gpus: Mapped[str | None] = mapped_column(String(255), nullable=True)
    model_prefix: Mapped[str | None] = mapped_column(String(255), nullable=True)
    weights: Mapped[str | None] = mapped_column(String(255), nullable=True)
    start_date: Mapped[str | None] = mapped_column(String(32), nullable=True)
    end_date: Mapped[str | None] = mapped_column(String(32), nullable=True)
    train_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    label_map: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AutoseleRelease(Timestamps, Base):
    """A published model: the registry stage is on the model; these are the release's own fields."""

    __tablename__ = "autosele_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    env: Mapped[str] = mapped_column(String(255), default="")
    adcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    desc: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(64), default="")
    time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
