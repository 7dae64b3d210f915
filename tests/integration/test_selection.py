"""Active data selection on the running platform: a ResNet-18 trained here on a small labelled seed set is
registered and served; the AutoSele /sele_value runs it over a pool through the Serve deployments and keeps
the images it is least sure of; the native /selection/random picks the same number at random. Retraining
on seed + uncertain picks beats seed + random picks on a held-out set.

The generated data makes the effect large and the outcome stable: an image is a flat grey level v (plus a
little noise) and its class is "bright" iff v > 0.3. The seed set (v in [0, 0.2] or [0.88, 1]) and 300 of
the 310 pool images are easy near-duplicates (v ~ 0.1 or v ~ 0.9); 10 pool images are hard, v in
[0.32, 0.84], all "bright", in the gap where a model that saw only the seed puts its boundary wherever its
initialisation leads it (here high in the gap: the test checks that the seed model is poor on the held-out
set, which is three quarters gap images). Random picks of 8 images expect 0.26 hard ones (the seeded
draw here has none); the uncertain picks are the hard ones near the seed model's boundary. All seeds are
fixed and training runs on one thread, so the outcome is the same on every run.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raysight.context import Platform
from raysight.services import models
from raysight.settings import Settings

pytestmark = [pytest.mark.ray, pytest.mark.slow]
THRESHOLD, PICK, SIZE = 0.3, 8, 32


def grey(v: float, rng: np.random.Generator) -> np.ndarray:
    plane = np.clip(v + rng.normal(0, 0.02, (SIZE, SIZE, 1)), 0, 1)
    return (np.repeat(plane, 3, axis=2) * 255).astype(np.uint8)


def label(v: float) -> int:
    return int(v > THRESHOLD)


def train(images: list[np.ndarray], labels: list[int], steps: int = 40, start: object | None = None) -> object:
    """A ResNet-18 (the resnet plugin's architecture and preprocessing) trained full-batch from fixed
    weights, or fine-tuned from `start` (a copy); BatchNorm statistics are recomputed on the training set
    so eval mode sees what training saw."""
    import copy

    import torch

    from raysight_resnet.model import build_resnet
    from raysight_resnet.predict import preprocess

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared small machine one thread is many times faster than two
    try:
        torch.manual_seed(0)
        x, y = torch.from_numpy(preprocess(images, SIZE)), torch.tensor(labels)
        net = build_resnet("resnet18", 2) if start is None else copy.deepcopy(start)
        net.train()
        # SGD when fine-tuning: images the model already knows give it (near) zero gradient and leave it
        # as it was (Adam would rescale those tiny gradients into full-size steps)
        opt = (torch.optim.Adam(net.parameters(), lr=1e-3) if start is None
               else torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9))
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        with torch.no_grad():
            net(x)
        return net.eval()
    finally:
        torch.set_num_threads(threads)


def accuracy(net: object, images: list[np.ndarray], labels: list[int]) -> float:
    import torch

    from raysight_resnet.predict import preprocess

    with torch.no_grad():
        predicted = net(torch.from_numpy(preprocess(images, SIZE))).argmax(1).numpy()  # type: ignore[operator]
    return float((predicted == np.array(labels)).mean())


@pytest.fixture(scope="module")
def registry(serve_workspace: Path) -> Iterator[Platform]:
    platform = Platform.create(Settings(workspace=serve_workspace))
    yield platform
    platform.close()


def register(ctx: Platform, net: object) -> str:
    import torch

    model_id = "model_select_seed"
    path = ctx.workspace.model_dir(model_id) / "weights" / "best.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": "resnet18", "classes": ["dark", "bright"], "state_dict": net.state_dict(),  # type: ignore[attr-defined]
                "imgsz": SIZE}, path)
    models.register(ctx=ctx, plugin="resnet", task_type="classify", weights_path=path, classes=["dark", "bright"],
                    name="selection seed", model_id=model_id)
    return model_id


def wait(http, path: str, task_id: str, *, autosele: bool) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if autosele:
            body = http.post(path, json={"task_id": task_id}).json()
            assert body["errno"] == 1, body
            record = body["data"]
        else:
            record = http.get(f"{path}/{task_id}").json()
        if record["status"] not in ("pending", "running"):
            assert record["status"] == "completed", record
            return record
        time.sleep(0.5)
    raise AssertionError(f"{task_id} did not end")


def test_uncertainty_selection_beats_random(http, registry: Platform, import_root: Path) -> None:
    rng = np.random.default_rng(0)
    seed_v = [*rng.uniform(0.0, 0.2, 6), *rng.uniform(0.88, 1.0, 6)]
    pool_v = [*rng.uniform(0.08, 0.12, 150), *rng.uniform(0.88, 0.92, 150), *rng.uniform(0.32, 0.84, 10)]
    held_v = [*rng.uniform(0.32, 0.84, 60), *rng.uniform(0.08, 0.12, 20)]
    seed_x, held_x = [grey(v, rng) for v in seed_v], [grey(v, rng) for v in held_v]
    seed_y, held_y = [label(v) for v in seed_v], [label(v) for v in held_v]
    pool = import_root / "selection_pool"
    pool.mkdir()
    pool_x = {}
    for i, v in enumerate(pool_v):
        pool_x[f"p{i:03d}.png"] = image = grey(v, rng)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")  # lossless: the server sees these exact pixels
        (pool / f"p{i:03d}.png").write_bytes(buf.getvalue())
    index = {f"p{i:03d}.png": v for i, v in enumerate(pool_v)}

    seed_net = train(seed_x, seed_y)
    seed_acc = accuracy(seed_net, held_x, held_y)
    assert seed_acc <= 0.6, f"the seed model already solves the held-out set ({seed_acc}): no room to improve"
    model_id = register(registry, seed_net)

    # uncertainty through the AutoSele dialect, on the Serve deployment; random through the native API
    body = http.post("/sele_value", json={"output_dir": str(import_root / "uncertain"), "ratio": str(PICK),
                                          "weights_dir": model_id, "track_file": str(pool), "gpus": "0"}).json()
    assert body["errno"] == 1, body
    uncertain = wait(http, "/auto_sele", body["data"], autosele=True)
    assert uncertain["task_type"] == "uncertainty" and uncertain["weights_dir"] == model_id
    assert uncertain["result"]["strategy"] == "entropy" and uncertain["result"]["pool_size"] == len(pool_v)
    resp = http.post("/selection/random", json={"pool": str(pool), "output_dir": str(import_root / "random"),
                                                "count": PICK, "seed": 0})
    assert resp.status_code == 200, resp.text
    randomly = wait(http, "/selection", resp.json()["task_id"], autosele=False)

    picked_u = [Path(s).name for s in uncertain["result"]["sources"]]
    picked_r = [Path(s).name for s in randomly["result"]["sources"]]
    assert sorted(p.name for p in (import_root / "uncertain").glob("*.png")) == sorted(picked_u)
    scores = uncertain["result"]["scores"]
    assert len(picked_u) == len(picked_r) == PICK and scores == sorted(scores, reverse=True)
    hard_u = sum(THRESHOLD < index[n] < 0.85 for n in picked_u)
    assert hard_u >= PICK // 2, [round(index[n], 2) for n in picked_u]  # the rare hard images are found

    def retrained(names: list[str]) -> float:
        # warm start from the seed model (as an active-learning round does): what the added images
        # teach shows, rather than where a fresh initialisation happens to put the boundary
        net = train(seed_x + [pool_x[n] for n in names], seed_y + [label(index[n]) for n in names],
                    steps=20, start=seed_net)
        return accuracy(net, held_x, held_y)

    acc_u, acc_r = retrained(picked_u), retrained(picked_r)
    print(f'seed {seed_acc:.3f} uncertainty {acc_u:.3f} random {acc_r:.3f}; hard picks {hard_u}')
    assert acc_u >= 0.85 and acc_u >= acc_r + 0.2 and acc_u >= seed_acc + 0.2, (seed_acc, acc_u, acc_r)


def test_dataops_and_detection_selection_on_the_server(http, registry: Platform, import_root: Path) -> None:
    """The data-operation flow over HTTP against the served platform, and model-driven selection with a
    detection model (box confidences) on the YOLO deployment; paths outside the roots are refused."""
    from tests.integration.test_inference import register_yolo
    from tests.unit.test_autosele_dataops import yolo_folder

    base = import_root / "dataops"
    base.mkdir()
    src = yolo_folder(base, 10)

    def started(path: str, body: dict) -> str:
        answer = http.post(path, json=body).json()
        assert answer["errno"] == 1, answer
        return answer["data"]

    imported = wait(http, "/off_status", started("/offimport", {"src": str(src), "city": "wuhan",
                                                                "imgoprange": "all"}), autosele=True)
    dataset_id = imported["result"]["dataset_id"]
    divided = wait(http, "/divide_history", started("/task_divide", {"version": dataset_id, "step": 4}),
                   autosele=True)
    assert [len(p["images"]) for p in divided["result"]["packages"]] == [4, 4, 2]
    published = wait(http, "/label_history", started("/process_label", {"version": dataset_id}), autosele=True)
    first, *_, last = [p["annotation_task_id"] for p in published["result"]["packages"]]
    exported = wait(http, "/line_status", started("/linedown", {"taskid_start": first, "taskid_end": last,
                                                                "dest": str(base / "out")}), autosele=True)
    assert len(exported["result"]["tasks"]) == 3 and (base / "out" / first / "annotations.json").is_file()
    for outside in ("/etc", f"{import_root}/../x"):
        assert http.post("/linedown", json={"taskid_start": first, "taskid_end": last,
                                            "dest": outside}).json()["errno"] == 400

    model_id = register_yolo(registry, classes=["square", "circle"])
    weights = registry.workspace.model_dir(model_id) / "weights" / "best.pt"  # a path naming the model
    body = http.post("/compat/autosele/sele_value", data={"output_dir": str(base / "sel"), "ratio": "3",
                                                          "weights_dir": str(weights), "task_file": str(src / "images"),
                                                          "strategy": "margin"}).json()
    assert body["errno"] == 1, body
    record = wait(http, "/compat/autosele/auto_sele", body["data"], autosele=True)
    assert record["result"]["model_id"] == model_id and record["weights_dir"] == str(weights)
    scores = record["result"]["scores"]
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores) and record["result"]["strategy"] == "margin"
    assert len(list((base / "sel").glob("*.jpg"))) == 3
