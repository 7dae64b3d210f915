"""Grouped calls from the ingress to a model deployment: concurrent predictions of one model with the same
options that arrive while the deployment's replicas are busy go to a replica together, in one call.

Why: on a CPU the ingress hands requests to the replicas about as fast as they compute them, so Serve's
batching in the replica (@serve.batch) rarely finds more than one request waiting (1.2 images per batch at
16 concurrent 128 px requests on 2 cores, bench/serving.py). Every request then pays a Serve call on both
sides and the model runs at batch 1 (YOLOv8n on ONNX Runtime, 1 thread, 128 px: 6.3 ms an image alone,
3.6 ms in a batch of 8). Grouped in the ingress, a call carries the requests that queued while the last
calls were out: at 16 concurrent requests 11 ms of CPU per request instead of 19.

A lone request is sent at once, alone: sequential clients see no wait. At most `calls` calls are out at
once (ModelDeploymentOptions.grouping: two per replica, one computing and one waiting for the model
thread; the replica count must be fixed); the requests behind them wait here, at most `max_waiting`
(past that: Busy, 503 with Retry-After, as Serve's max_queued_requests answers). A request whose client
left before its call was sent is not sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from raysight.errors import Busy


@dataclass(frozen=True)
class Grouping:
    """How the ingress groups one deployment's predictions: up to `max_items` images a call, `calls` calls
    out at once, at most `max_waiting` images waiting behind them (-1: no limit)."""

    max_items: int
    calls: int
    max_waiting: int = -1
    retry_after_s: float = 1.0


# one call: the items -> one answer per item, a value or the exception that item failed with
SendGroup = Callable[[list[Any]], Awaitable[list[Any]]]


class CallGroups:
    """The waiting requests of one (deployment, model, options) and the calls out for them."""

    def __init__(self, grouping: Grouping, send: SendGroup, name: str) -> None:
        self.grouping = grouping
        self.send = send
        self.name = name
        self.waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self.out = 0
        self._calls: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> bool:
        return not self.out and not self.waiting

    async def submit(self, item: Any) -> Any:
        """`item`'s answer, from the call it went in; its own error if it failed alone."""
        limit = self.grouping.max_waiting
        if limit >= 0 and self.out >= self.grouping.calls and len(self.waiting) >= limit:
            raise Busy(f"the model service is busy ({len(self.waiting)} images wait for '{self.name}', "
                       f"max_queued_requests={limit}); retry shortly", retry_after_s=self.grouping.retry_after_s)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, answer))
        self._send_waiting()
        return await answer

    def _send_waiting(self) -> None:
        while self.out < self.grouping.calls:
            self.waiting = [(item, answer) for item, answer in self.waiting if not answer.done()]  # gone clients
            if not self.waiting:
                return
            group = self.waiting[:self.grouping.max_items]
            del self.waiting[:len(group)]
            self.out += 1
            call = asyncio.ensure_future(self._call(group))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _call(self, group: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            answers = await self.send([item for item, _ in group])
            if len(answers) != len(group):
                raise RuntimeError(f"{self.name} answered {len(answers)} of {len(group)} images")
        except asyncio.CancelledError:
            for _, answer in group:
                answer.cancel()
            raise
        except Exception as exc:  # the call failed as a whole: every request in it fails with it
            answers = [exc] * len(group)
        finally:
            self.out -= 1
        for (_, answer), value in zip(group, answers, strict=True):
            if answer.done():  # its client left
                continue
            if isinstance(value, BaseException):
                answer.set_exception(value)
            else:
                answer.set_result(value)
        self._send_waiting()
