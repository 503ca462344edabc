"""Concurrent requests' names, predicted together by one thread.

``handgrad serve`` answers many clients at once. Running each request's forward passes in its own
thread would make the threads compete for the two cores (and for the BLAS's own threads) and pay one
forward pass per request. Instead every request hands its names to a :class:`Batcher`, whose single
thread takes whatever has queued up since its last pass (up to ``max_names``), predicts them in one
batched pass and hands each request its slice. Under no load a request waits for nothing; under load
the passes grow and their cost per name falls. The model is only ever used by that one thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable


def _deliver(fut: asyncio.Future, value=None, error: BaseException | None = None) -> None:
    if fut.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class Batcher:
    """``await batcher(items)`` -> ``fn(items)``, with concurrent calls' items run as one batch.

    ``fn(list) -> list`` of the same length (results in order). When a batch raises, each request of
    it runs alone, so that one request's bad input is never another's error.
    """

    def __init__(self, fn: Callable[[list], list], max_names: int = 256) -> None:
        self.fn, self.max_names = fn, max_names
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.batches = 0  # passes made, for the benchmark's and the tests' curiosity
        self.thread = threading.Thread(target=self._run, name="handgrad-batcher", daemon=True)
        self.thread.start()

    async def __call__(self, items: list) -> list:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.queue.put((list(items), loop, fut))
        return await fut

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(10)

    def _take(self, first) -> tuple[list, bool]:
        """``first`` and whatever else is waiting, up to max_names items; (batch, stop requested)."""
        batch, n = [first], len(first[0])
        while n < self.max_names:
            try:
                nxt = self.queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
            n += len(nxt[0])
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                return
            batch, stop = self._take(first)
            self.batches += 1
            try:
                results, failure = self.fn([x for items, _, _ in batch for x in items]), None
            except BaseException as e:  # noqa: BLE001 - handed to the requests below
                results, failure = None, e
            i = 0
            for items, loop, fut in batch:
                if results is not None:
                    value, error = results[i:i + len(items)], None
                    i += len(items)
                elif len(batch) == 1:
                    value, error = None, failure
                else:
                    try:
                        value, error = self.fn(items), None
                    except BaseException as e:  # noqa: BLE001 - this request's own error
                        value, error = None, e
                loop.call_soon_threadsafe(_deliver, fut, value, error)
