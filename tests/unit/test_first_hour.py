"""`raysight serve` settings precedence (flags > environment > serve_config args.settings > defaults), the
training queue's fit decisions, and `raysight demo-data`."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from raysight.cli import load_serve_config, main
from raysight.settings import layered_settings
from raysight.training import placement

ROOT = Path(__file__).parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("RAYSIGHT_WORKSPACE", "RAYSIGHT_PORT", "RAYSIGHT_HOST", "RAYSIGHT_SEED"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_apply_when_nothing_is_given(clean_env: pytest.MonkeyPatch) -> None:
    s = layered_settings(file_values={}, flags={"host": None, "port": None, "workspace": None})
    assert (s.port, s.host, s.workspace, s.seed) == (8000, "127.0.0.1", Path("./workspace"), 0)


def test_the_files_settings_beat_the_defaults(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = layered_settings(file_values={"workspace": str(tmp_path / "f"), "port": 8100, "seed": 3,
                                      "not_a_setting": 1}, flags={"port": None})
    assert (s.workspace, s.port, s.seed) == (tmp_path / "f", 8100, 3)


def test_the_environment_beats_the_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("RAYSIGHT_WORKSPACE", str(tmp_path / "env"))
    s = layered_settings(file_values={"workspace": str(tmp_path / "f"), "seed": 3}, flags={})
    assert s.workspace == tmp_path / "env" and s.seed == 3  # what the environment does not set stays the file's


def test_flags_beat_the_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("RAYSIGHT_WORKSPACE", str(tmp_path / "env"))
    clean_env.setenv("RAYSIGHT_PORT", "8200")
    s = layered_settings(file_values={"workspace": str(tmp_path / "f"), "port": 8100},
                         flags={"workspace": str(tmp_path / "flag"), "port": None})
    assert s.workspace == tmp_path / "flag" and s.port == 8200


def test_the_repos_serve_config_is_read_with_its_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (ROOT / "serve_config.yaml").read_text().replace("settings: {}", f"settings: {{workspace: {tmp_path}}}")
    (tmp_path / "serve_config.yaml").write_text(text)
    app = load_serve_config(tmp_path / "serve_config.yaml")
    assert layered_settings(file_values=app["args"]["settings"]).workspace == tmp_path


def test_a_run_fits_waits_or_can_never_fit() -> None:
    total = {"CPU": 2.0}
    assert placement.check({"CPU": 1.0}, total=total, free={"CPU": 1.5}, workers=1).reason is None
    wait = placement.check({"CPU": 1.0}, total=total, free={"CPU": 0.75}, workers=1)
    assert not wait.impossible and wait.reason == ("waiting for 1 CPU: 0.75 of 2 CPU are free (the rest is held "
                                                   "by Serve replicas and running jobs)")
    never = placement.check({"CPU": 4.0}, total=total, free={"CPU": 2.0}, workers=4)
    assert never.impossible and "needs 4 CPU (4 Train worker(s) x 1 CPU)" in str(never.reason)
    assert "the whole Ray cluster has 2 CPU" in str(never.reason)
    gpu = placement.check({"CPU": 1.0, "GPU": 1.0}, total=total, free=total, workers=1)
    assert gpu.impossible and "has no GPU" in str(gpu.reason) and "RAYSIGHT_TRAIN_USE_GPU" in str(gpu.reason)


def test_a_resumed_run_waits_for_the_node_it_lost_instead_of_failing() -> None:
    # the only node with the custom resource the workers ask for has left the cluster
    need, total = {"CPU": 1.0, "trainer": 1.0}, {"CPU": 2.0}
    new = placement.check(need, total=total, free=total, workers=1)
    assert new.impossible and "the whole Ray cluster has no trainer" in str(new.reason)
    resumed = placement.check(need, total=total, free=total, workers=1, resumed=True)
    assert not resumed.impossible
    assert resumed.reason == ("waiting for a node with trainer: the job needs 1 trainer (1 Train worker(s) x 1 "
                              "trainer) and the Ray cluster has no trainer now (the node it ran on left); it "
                              "starts when one joins")
    back = placement.check(need, total={**total, "trainer": 1.0}, free={**total, "trainer": 1.0}, workers=1,
                           resumed=True)
    assert back.reason is None


def test_demo_data_writes_a_yolo_zip_and_a_classification_zip(tmp_path: Path) -> None:
    assert main(["demo-data", str(tmp_path / "demo")]) == 0
    with zipfile.ZipFile(tmp_path / "demo" / "shapes_yolo.zip") as zf:
        names = zf.namelist()
        assert "data.yaml" in names and sum(n.startswith("images/") for n in names) == 64
        assert sum(n.startswith("labels/") for n in names) == 64
    with zipfile.ZipFile(tmp_path / "demo" / "shapes_classify.zip") as zf:
        assert {n.split("/")[0] for n in zf.namelist()} == {"square", "circle", "triangle"}


def test_health_has_a_dashboard_url_field(client: TestClient) -> None:
    assert client.get("/health").json()["dashboard_url"] is None  # no Ray here; the e2e test sees a URL
