"""What the ingress does once its Platform exists (recovery of interrupted work, supervisors)."""

from __future__ import annotations

from raysight.context import Platform


def on_ingress_start(platform: Platform) -> None:
    from raysight.services import tasks

    tasks.fail_interrupted(ctx=platform)
