"""The AutoSele dialect without Ray: its envelope for unknown paths, wrong methods, bad bodies and
unknown ids (never a 500, never FastAPI's {"detail"}), and parameters read from JSON, form or query."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from raysight.api.compat.autosele.envelope import AutoseleRoute, ok
from raysight.api.compat.autosele.params import read_params

PREFIXES = ("", "/compat/autosele")


def envelope(resp, errno: int) -> dict:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.json()
    assert "detail" not in body and isinstance(body["message"], str), body
    assert body["errno"] == errno, body
    if errno != 1:
        assert body["message"] and body["data"] is None, body
    return body


def test_gups_info_is_an_empty_list_without_gpus(client) -> None:
    for prefix in PREFIXES:
        assert envelope(client.get(prefix + "/gups_info"), 1)["data"] == []


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
def test_unknown_paths_under_the_prefix_answer_in_the_envelope(client, method) -> None:
    body = envelope(client.request(method, "/compat/autosele/no_such_endpoint"), 404)
    assert "/compat/autosele/no_such_endpoint" in body["message"]
    envelope(client.request(method, "/compat/autosele/a/b/../c"), 404)


def test_wrong_methods_answer_405_in_both_mounts(client) -> None:
    for prefix in PREFIXES:
        body = envelope(client.post(prefix + "/gups_info", json={}), 405)
        assert "POST" in body["message"]
        envelope(client.delete(prefix + "/gups_info"), 405)


def test_native_unknown_paths_keep_the_native_answer(client) -> None:
    resp = client.get("/no_such_native_path")
    assert resp.status_code == 404 and "detail" in resp.json()


def _echo_client():
    router = APIRouter(route_class=AutoseleRoute)

    @router.api_route("/echo", methods=["GET", "POST"])
    async def echo(request: Request):
        p = await read_params(request)
        return ok({"n": p.integer("n"), "r": p.number("r", required=False), "m": p.mapping("m", required=False),
                   "g": p.id_list("g", required=False), "f": p.flag("f")})

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_parameters_from_json_form_or_query() -> None:
    client = _echo_client()
    want = {"n": 24, "r": 0.85, "m": {"0": ["12", "other", "其他"]}, "g": ["0", "1"], "f": True}
    as_json = {"n": 24, "r": 0.85, "m": {"0": ["12", "other", "其他"]}, "g": "0,1", "f": 1}
    as_text = {"n": "24", "r": "0.85", "m": '{"0": ["12", "other", "其他"]}', "g": "0,1", "f": "true"}
    assert envelope(client.post("/echo", json=as_json), 1)["data"] == want
    assert envelope(client.post("/echo", data=as_text), 1)["data"] == want
    assert envelope(client.post("/echo", files={"x": ("x", b"")}, data=as_text), 1)["data"] == want
    assert envelope(client.get("/echo", params=as_text), 1)["data"] == want
    assert envelope(client.post("/echo?n=3", json={"n": 4}), 1)["data"]["n"] == 4  # the body wins


@pytest.mark.parametrize("kwargs", [
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"json": ["n"]}, {"json": {}}, {"json": {"n": "many"}}, {"json": {"n": 1.5}}, {"json": {"n": True}},
    {"json": {"n": 1, "r": "nan"}}, {"json": {"n": 1, "m": "[1]"}}, {"json": {"n": 1, "f": "maybe"}},
])
def test_bad_parameters_answer_400(kwargs) -> None:
    envelope(_echo_client().post("/echo", **kwargs), 400)


def test_nvidia_smi_rows_become_gpu_records() -> None:
    from raysight.serving.probes import parse_nvidia_smi

    # captured on the project's H100 device machine with the probe's exact query
    text = "0, NVIDIA H100 80GB HBM3, 81559, 0, 81079\n1, Tesla T4, [N/A], 10, 15000\nnot a row\n"
    assert parse_nvidia_smi(text) == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total_mb": 81559, "memory_used_mb": 0,
         "memory_free_mb": 81079},
        {"index": 1, "name": "Tesla T4", "memory_total_mb": None, "memory_used_mb": 10, "memory_free_mb": 15000},
    ]
    assert parse_nvidia_smi("") == []
