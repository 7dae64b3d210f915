"""`raysight weights list / add / pull` against a local HTTP server on 127.0.0.1 acting as the mirror
(RAYSIGHT_WEIGHTS_URL). The served files are built here: a real resnet18 state dict (fresh weights, as
download.pytorch.org serves it) and a real YOLOv8n ultralytics checkpoint. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import io
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import torchvision

from raysight import weights
from raysight.cli import main
from raysight.errors import InvalidWeights, Unavailable
from raysight.plugins import load_plugins
from raysight.workspace import Workspace
from tests.unit.test_weights_safety import fresh_yolo

RESNET = "resnet18-f37072fd.pth"  # the upstream file name a mirror serves


class Mirror:
    """Serves `files` by name, with HTTP Range (unless range_support is off); `drops[name]` lists cut
    points: each response to that name sends only that many body bytes and closes the connection."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.drops: dict[str, list[int]] = {}
        self.range_support = True
        self.requests: list[tuple[str, str | None, int]] = []  # (name, Range header, status)
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name, asked = self.path.lstrip("/"), self.headers.get("Range")
                data = mirror.files.get(name)
                if data is None:
                    mirror.requests.append((name, asked, 404))
                    self.send_error(404)
                    return
                found = re.fullmatch(r"bytes=(\d+)-", asked or "")
                start = int(found.group(1)) if found and mirror.range_support else 0
                status = 206 if found and mirror.range_support else 200
                mirror.requests.append((name, asked, status))
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                cuts = mirror.drops.get(name)
                if cuts:
                    self.wfile.write(body[:cuts.pop(0)])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    buf = io.BytesIO()
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), buf)
    yolo = fresh_yolo(tmp_path_factory.mktemp("yolo") / "yolov8n.pt", dict(enumerate(["a", "b", "c"])))
    return {RESNET: buf.getvalue(), "yolov8n.pt": yolo.read_bytes()}


@pytest.fixture
def mirror(files: dict[str, bytes]) -> Iterator[Mirror]:
    server = Mirror(dict(files))
    yield server
    server.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws").ensure()


@pytest.fixture(scope="module")
def backends() -> dict:
    return load_plugins().backends


def leftovers(ws: Workspace) -> list[str]:
    return sorted(p.name for p in (ws.tmp / "pull").iterdir()) if (ws.tmp / "pull").is_dir() else []


def test_pull_from_the_mirror_then_list(mirror: Mirror, workspace: Workspace, files: dict[str, bytes],
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("RAYSIGHT_WORKSPACE", str(workspace.root))
    monkeypatch.setenv("RAYSIGHT_WEIGHTS_URL", mirror.url + "/")
    assert main(["weights", "pull", "resnet18", "yolov8n.pt"]) == 0
    out, err = capsys.readouterr()
    assert (workspace.weights / "resnet18.pth").read_bytes() == files[RESNET]  # the name the plugin looks up
    assert (workspace.weights / "yolov8n.pt").read_bytes() == files["yolov8n.pt"]
    assert [(n, r) for n, r, _ in mirror.requests] == [(RESNET, None), ("yolov8n.pt", None)]
    assert "added resnet18.pth: resnet resnet18" in out and "added yolov8n.pt: yolo yolov8n" in out
    assert "resnet18.pth [" in err and "#" * 30 in err  # the progress bar, on stderr
    assert leftovers(workspace) == []
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"resnet18\.pth .* resnet resnet18 \(torchvision state dict, 1000 classes\)\s+<- used by resnet",
                     listing), listing
    assert re.search(r"yolov8n\.pt .* yolo yolov8n \(ultralytics checkpoint, 3 classes\)\s+<- used by yolo", listing)
    assert "yolov8s.pt [pull yolov8s]" in listing and "mobile_sam.pt [pull mobile_sam]" in listing
    assert main(["weights", "pull", "resnet18"]) == 1  # already there
    assert "already in the weights folder" in capsys.readouterr().err


def test_corrupt_or_wrong_files_are_refused_and_nothing_is_left(mirror: Mirror, workspace: Workspace, backends: dict,
                                                                files: dict[str, bytes]) -> None:
    mirror.files[RESNET] = files[RESNET][: len(files[RESNET]) // 2]  # a truncated file
    mirror.files["yolov8s.pt"] = files["yolov8n.pt"]  # a yolov8n where a yolov8s belongs
    with pytest.raises(InvalidWeights, match="not a PyTorch weights file"):
        weights.pull(backends, workspace.weights, "resnet18", tmp=workspace.tmp, mirror=mirror.url, backoff=0)
    with pytest.raises(InvalidWeights, match="holds a yolov8n, not a yolov8s"):
        weights.pull(backends, workspace.weights, "yolov8s", tmp=workspace.tmp, mirror=mirror.url, backoff=0)
    with pytest.raises(Unavailable, match="HTTP 404"):
        weights.pull(backends, workspace.weights, "sam_vit_b", tmp=workspace.tmp, mirror=mirror.url, backoff=0)
    assert list(workspace.weights.iterdir()) == [] and leftovers(workspace) == []


def test_a_dropped_connection_resumes_with_a_range_request(mirror: Mirror, workspace: Workspace, backends: dict,
                                                           files: dict[str, bytes]) -> None:
    cut = 10 * 2**20
    mirror.drops[RESNET] = [cut, 5 * 2**20]
    seen: list[int] = []
    dest, info = weights.pull(backends, workspace.weights, "resnet18", tmp=workspace.tmp, mirror=mirror.url,
                              backoff=0, progress=lambda done, _total: seen.append(done))
    assert dest.read_bytes() == files[RESNET] and info.arch == "resnet18"
    assert [(r, s) for _, r, s in mirror.requests] == [(None, 200), (f"bytes={cut}-", 206),
                                                       (f"bytes={cut + 5 * 2**20}-", 206)]
    assert seen[-1] == len(files[RESNET]) and leftovers(workspace) == []


def test_without_range_support_it_restarts_or_fails_cleanly(mirror: Mirror, workspace: Workspace, backends: dict,
                                                            files: dict[str, bytes]) -> None:
    mirror.range_support = False
    mirror.drops[RESNET] = [2**20]
    dest, _ = weights.pull(backends, workspace.weights, "resnet18", tmp=workspace.tmp, mirror=mirror.url, backoff=0)
    assert dest.read_bytes() == files[RESNET]  # the second answer (200, whole file) replaced the first part
    assert [(r, s) for _, r, s in mirror.requests] == [(None, 200), (f"bytes={2**20}-", 200)]
    mirror.drops["yolov8n.pt"] = [1000, 2000, 3000]  # it breaks every time: resume is impossible
    with pytest.raises(Unavailable, match="failed after 2 retries"):
        weights.pull(backends, workspace.weights, "yolov8n", tmp=workspace.tmp, mirror=mirror.url, retries=2,
                     backoff=0)
    assert sorted(p.name for p in workspace.weights.iterdir()) == ["resnet18.pth"] and leftovers(workspace) == []


def test_add_checks_the_file_against_its_architecture(workspace: Workspace, tmp_path: Path, files: dict[str, bytes],
                                                      capsys: pytest.CaptureFixture) -> None:
    good = tmp_path / "download.pth"
    good.write_bytes(files[RESNET])
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["fc.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "odd.pth")
    ws = ["--workspace", str(workspace.root)]
    assert main(["weights", *ws, "add", str(tmp_path / "odd.pth")]) == 1
    assert "fc.bias has shape [7]" in capsys.readouterr().err
    assert main(["weights", *ws, "add", str(good), "--name", "resnet50.pth"]) == 1  # resnet50 looks it up
    assert "does not fit resnet50" in capsys.readouterr().err
    (tmp_path / "notes.pt").write_text("hello")
    assert main(["weights", *ws, "add", str(tmp_path / "notes.pt")]) == 1
    assert "fits no model family" in capsys.readouterr().err
    assert list(workspace.weights.iterdir()) == []
    assert main(["weights", *ws, "add", str(good), "--name", "resnet18.pth"]) == 0
    assert "added resnet18.pth: resnet resnet18" in capsys.readouterr().out
    assert (workspace.weights / "resnet18.pth").read_bytes() == files[RESNET]
    assert list((workspace.tmp / "add").iterdir()) == []
