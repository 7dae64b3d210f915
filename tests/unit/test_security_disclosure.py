"""Issue 9 row 10: with an API key set, /health without it says only up or down; errors say what was
wrong without echoing internals."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from raysight.api import create_app
from raysight.context import Platform
from raysight.settings import Settings


def test_health_without_the_key_says_only_up_or_down(tmp_path: Path) -> None:
    ctx = Platform.create(Settings(workspace=tmp_path / "ws", api_key="k3y"))
    with TestClient(create_app(ctx)) as client:
        anonymous = client.get("/health")
        assert anonymous.status_code == 200
        assert anonymous.json() == {"status": "degraded"}  # no Ray in this test: down
        assert str(ctx.workspace.root) not in anonymous.text
        full = client.get("/health", headers={"X-API-Key": "k3y"}).json()
        assert full["workspace"] == str(ctx.workspace.root) and "plugins" in full and "ray" in full
        assert client.get("/health", headers={"X-API-Key": "wrong"}).json() == {"status": "degraded"}
    ctx.close()


def test_health_without_a_configured_key_is_complete(client: TestClient) -> None:
    assert {"status", "workspace", "plugins", "database"} <= set(client.get("/health").json())


def test_task_errors_do_not_echo_paths_or_addresses(ctx: Platform) -> None:
    import asyncio

    import pytest

    from raysight.services import tasks

    secret_path = str(ctx.workspace.root / "tasks" / "internal" / "state.bin")

    async def work(_progress: object) -> dict[str, object]:
        raise ConnectionError(f"cannot reach gcs 10.0.3.7:6379 or [fd00::5]:8265 while writing {secret_path}")

    task_id = tasks.create(ctx=ctx, kind="ingest")
    with pytest.raises(ConnectionError):
        asyncio.run(tasks.run(ctx=ctx, task_id=task_id, work=work))  # type: ignore[arg-type]
    error = tasks.get(ctx=ctx, task_id=task_id)["error"]
    assert error.startswith("ConnectionError: cannot reach gcs") and "state.bin" in error
    for internal in ("10.0.3.7", "6379", "fd00::5", str(ctx.workspace.root), "/tasks/internal"):
        assert internal not in error, internal
