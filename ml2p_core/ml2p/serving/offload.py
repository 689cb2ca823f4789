"""Running blocking calls on threads and awaiting them from the event loop.

A lean alternative to ``loop.run_in_executor``: a fixed set of daemon
threads reads ``(future, function, argument)`` from one queue and hands the
result back with ``loop.call_soon_threadsafe``. No ``concurrent.futures``
future, condition or lock is made per call, which keeps the hand-off cheap on
the server's hot path. Predictions run here so that a slow, CPU-bound
prediction never stops the event loop from answering ``/ping``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable, List, Optional

_STOP: Any = object()


def _resolve(future: asyncio.Future, result: Any, error: Optional[BaseException]) -> None:
    # The future may already be done: the caller gave up on it (timeout).
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Offloader:
    """Daemon threads that run functions for an event loop.

    :param threads: How many calls may run at once.
    :param name: Prefix of the thread names.
    """

    def __init__(self, threads: int = 4, name: str = "ml2p-predict"):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: List[threading.Thread] = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, loop: asyncio.AbstractEventLoop, function: Callable[[Any], Any], argument: Any
    ) -> asyncio.Future:
        """Run ``function(argument)`` on a thread; return a future of ``loop`` for its result."""
        future = loop.create_future()
        self._queue.put((loop, future, function, argument))
        return future

    def _run(self) -> None:
        get = self._queue.get
        while True:
            job = get()
            if job is _STOP:
                return
            loop, future, function, argument = job
            try:
                result = function(argument)
            except BaseException as exc:
                error: Optional[BaseException] = exc
                result = None
            else:
                error = None
            try:
                loop.call_soon_threadsafe(_resolve, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop the threads once the calls already queued are done (waits up to ``timeout``)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
