"""deploy/rayservice.yaml: a KubeRay RayService whose Serve config is serve_config.yaml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def test_rayservice_serves_the_same_serve_config() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rayservice.yaml").read_text()))
    assert len(docs) == 1
    manifest = docs[0]
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    serve = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    local = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    hint = "deploy/rayservice.yaml is out of step with serve_config.yaml: run python deploy/sync_rayservice.py"
    assert serve["applications"] == local["applications"], hint
    assert serve["proxy_location"] == local["proxy_location"], hint
    assert serve["http_options"] == {**local["http_options"], "host": "0.0.0.0"}, hint  # the pod's address
    assert {k for k in serve if k not in ("applications", "proxy_location", "http_options")} == {
        k for k in local if k not in ("applications", "proxy_location", "http_options")}, hint


def test_rayservice_cluster_matches_the_platform() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "rayservice.yaml").read_text())
    cluster = manifest["spec"]["rayClusterConfig"]
    import ray

    assert cluster["rayVersion"] == ray.__version__
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RAYSIGHT_WORKSPACE"]["value"] == "/mnt/raysight"
        assert "secretKeyRef" in env["RAYSIGHT_DATABASE_URL"]["valueFrom"]  # one shared database
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
        assert claims[mounts["/mnt/raysight"]] == "raysight-workspace"  # one shared workspace


def test_sync_script_reports_an_out_of_date_manifest(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("sync_rayservice", ROOT / "deploy" / "sync_rayservice.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    manifest = (ROOT / "deploy" / "rayservice.yaml").read_text()
    config = (ROOT / "serve_config.yaml").read_text()
    assert sync.rendered(manifest, config) == manifest
    changed = config.replace("max_num_models_per_replica: 4", "max_num_models_per_replica: 5", 1)
    updated = yaml.safe_load(yaml.safe_load(sync.rendered(manifest, changed))["spec"]["serveConfigV2"])
    assert updated["applications"] == yaml.safe_load(changed)["applications"]
