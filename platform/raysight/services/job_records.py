"""The JobRecords port (raysight.ports) over services.training: the record-keeping the training
supervisor does while jobs run. The supervisor builds it on its own Platform from the factory the
composition root hands it (raysight.runtime.job_records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raysight.context import Platform
from raysight.services import training


class TrainingRecords:
    def __init__(self, ctx: Platform) -> None:
        self.ctx = ctx

    def active(self) -> list[tuple[str, str]]:
        return training.active_jobs(ctx=self.ctx)

    def spec(self, job_id: str) -> dict[str, Any]:
        return training.job_spec(ctx=self.ctx, job_id=job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        return training.get_job(ctx=self.ctx, job_id=job_id)

    def log(self, job_id: str, message: str) -> None:
        training.log(self.ctx, job_id, message)

    def mark_running(self, job_id: str) -> None:
        training.mark_running(ctx=self.ctx, job_id=job_id)

    def mark_stopped(self, job_id: str, *, error: str | None = None) -> None:
        training.mark_stopped(ctx=self.ctx, job_id=job_id, error=error)

    def fail(self, job_id: str, error: str) -> None:
        training.fail_job(ctx=self.ctx, job_id=job_id, error=error)

    def record_epoch(self, job_id: str, *, epoch: int, metrics: dict[str, Any], checkpointed: bool,
                     eta_s: float | None) -> None:
        training.record_epoch(ctx=self.ctx, job_id=job_id, epoch=epoch, metrics=metrics,
                              checkpointed=checkpointed, eta_s=eta_s)

    def record_resumed(self, job_id: str, *, epoch: int, metrics: dict[str, Any] | None = None) -> None:
        training.record_resumed(ctx=self.ctx, job_id=job_id, epoch=epoch, metrics=metrics)

    def complete(self, job_id: str, artifacts: Path | str) -> dict[str, Any]:
        return training.complete_job(ctx=self.ctx, job_id=job_id, artifacts=artifacts)
