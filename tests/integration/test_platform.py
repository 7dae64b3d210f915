from __future__ import annotations

import httpx


def test_health_reports_components(http: httpx.Client) -> None:
    body = http.get("/health").json()
    assert body["database"]["ok"] is True
    assert body["ray"]["ok"] is True
    assert set(body["plugins"]["loaded"]) >= {"yolo", "sam", "resnet", "ocr"}
    deployments = body["serve"]["deployments"]
    assert "Ingress" in deployments
    for name in ("yolo", "sam", "resnet", "ocr", "toy"):  # toy: the outside plugin gets one too
        assert deployments[name]["device"] == "cpu"
        assert deployments[name]["status"] == "HEALTHY"
    assert deployments["yolo"]["num_gpus"] == 0.0


def test_plugins_lists_builtins(http: httpx.Client) -> None:
    plugins = {p["name"]: p for p in http.get("/plugins").json()["plugins"]}
    assert plugins["yolo"]["task"] == "detect"
    assert "train" in plugins["resnet"]["operations"]
    assert plugins["ocr"]["operations"] == ["predict"]
    assert plugins["toy"]["plugin"] == "toy"
