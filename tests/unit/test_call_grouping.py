"""Grouped calls from the ingress (serving/grouping.py): which requests share a call, what each gets back,
and the queue limit; and which serve_config options turn grouping on (ModelDeploymentOptions.grouping).
The replica side (predict_each on a real model) is tested in tests/integration/test_inference.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raysight.errors import Busy, Invalid, Unavailable
from raysight.serving.config import CALLS_PER_REPLICA, ModelDeploymentOptions
from raysight.serving.grouping import CallGroups, Grouping


class Replicas:
    """Records each call's items; a call answers when the test releases it (items "bad*" fail alone)."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.release: list[asyncio.Future[None]] = []
        self.fail_with: BaseException | None = None

    async def send(self, items: list[Any]) -> list[Any]:
        self.calls.append(list(items))
        gate = asyncio.get_running_loop().create_future()
        self.release.append(gate)
        await gate
        if self.fail_with is not None:
            raise self.fail_with
        return [Invalid(f"{i} does not decode") if str(i).startswith("bad") else f"answer {i}" for i in items]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_lone_request_goes_at_once_and_queued_ones_go_together() -> None:
    async def scenario() -> None:
        replicas = Replicas()
        groups = CallGroups(Grouping(max_items=3, calls=1), replicas.send, "yolo")
        first = asyncio.ensure_future(groups.submit("a"))
        await settle()
        assert replicas.calls == [["a"]]  # sent alone, nothing waited for company
        later = [asyncio.ensure_future(groups.submit(x)) for x in ("b", "c", "d", "e")]
        await settle()
        assert replicas.calls == [["a"]]  # one call out per replica: the rest wait
        replicas.release[0].set_result(None)
        assert await first == "answer a"
        await settle()
        assert replicas.calls[1] == ["b", "c", "d"]  # what queued, up to max_items
        replicas.release[1].set_result(None)
        await settle()
        assert replicas.calls[2] == ["e"]
        replicas.release[2].set_result(None)
        assert await asyncio.gather(*later) == ["answer b", "answer c", "answer d", "answer e"]
        assert groups.idle

    asyncio.run(scenario())


def test_an_image_fails_alone_and_a_failed_call_fails_its_own_requests_only() -> None:
    async def scenario() -> None:
        replicas = Replicas()
        groups = CallGroups(Grouping(max_items=4, calls=2), replicas.send, "yolo")
        one = [asyncio.ensure_future(groups.submit(x)) for x in ("a", "bad", "c")]
        await settle()
        assert replicas.calls == [["a"], ["bad"]]  # two calls out at once (two replicas)
        for gate in replicas.release:
            gate.set_result(None)
        await settle()
        replicas.release[2].set_result(None)
        results = await asyncio.gather(*one, return_exceptions=True)
        assert results[0] == "answer a" and results[2] == "answer c"
        assert isinstance(results[1], Invalid)

        replicas.fail_with = Unavailable("the model service is unavailable (ActorDiedError)")
        two = [asyncio.ensure_future(groups.submit(x)) for x in ("x", "y")]
        await settle()
        for gate in replicas.release[3:]:
            gate.set_result(None)
        results = await asyncio.gather(*two, return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results)

    asyncio.run(scenario())


def test_past_max_waiting_a_request_is_busy_and_a_gone_client_is_not_sent() -> None:
    async def scenario() -> None:
        replicas = Replicas()
        groups = CallGroups(Grouping(max_items=8, calls=1, max_waiting=2, retry_after_s=2), replicas.send, "yolo")
        out = asyncio.ensure_future(groups.submit("a"))
        await settle()
        left = asyncio.ensure_future(groups.submit("b"))
        stays = asyncio.ensure_future(groups.submit("c"))
        await settle()
        with pytest.raises(Busy) as busy:
            await groups.submit("d")
        assert busy.value.retry_after_s == 2 and "max_queued_requests=2" in str(busy.value)
        left.cancel()  # its client went away while it waited
        await settle()
        replicas.release[0].set_result(None)
        await settle()
        assert replicas.calls[1] == ["c"]
        replicas.release[1].set_result(None)
        assert await out == "answer a" and await stays == "answer c"

    asyncio.run(scenario())


def test_grouping_needs_a_call_batch_size_and_a_fixed_replica_count() -> None:
    scaling = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}
    shipped = ModelDeploymentOptions.from_args({"num_gpus": 0.25, "cpu_replicas": 2, "call_batch_size": 8,
                                                "max_queued_requests": 64, "autoscaling_config": scaling})
    # two replicas, CALLS_PER_REPLICA calls out for each
    assert shipped.placed(0.0).grouping() == Grouping(max_items=8, calls=4, max_waiting=64, retry_after_s=1.0)
    assert shipped.placed(1.0).grouping() is None  # on a GPU autoscaling moves between 1 and 2 replicas
    assert ModelDeploymentOptions.from_args({"num_replicas": 3, "call_batch_size": 4}).grouping().calls == 6
    assert ModelDeploymentOptions.from_args({"num_replicas": 3}).grouping() is None  # the default: every call alone


def test_a_grouped_deployment_takes_as_many_calls_per_replica_as_the_ingress_sends_it() -> None:
    grouped = ModelDeploymentOptions.from_args({"num_replicas": 2, "call_batch_size": 8, "max_ongoing_requests": 32})
    assert grouped.deployment_kwargs()["max_ongoing_requests"] == CALLS_PER_REPLICA == grouped.grouping().calls // 2
    alone = ModelDeploymentOptions.from_args({"num_replicas": 2, "max_ongoing_requests": 32})
    assert alone.deployment_kwargs()["max_ongoing_requests"] == 32
