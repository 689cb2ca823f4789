"""Running blocking calls on threads and awaiting them from the event loop.

A lean alternative to ``loop.run_in_executor``: a fixed set of daemon
threads reads ``(future, function, argument)`` from one queue and hands the
result back through a deque that the event loop drains. The loop is woken
(``loop.call_soon_threadsafe``, a write to its self-pipe) only when no
wake-up is already pending, so under load one wake-up delivers many results.
No ``concurrent.futures`` future, condition or lock is made per call, which
keeps the hand-off cheap on the server's hot path. Predictions run here so that a slow, CPU-bound
prediction never stops the event loop from answering ``/ping``.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from typing import Any, Callable

_STOP: Any = object()


class Offloader:
    """Daemon threads that run functions for an event loop.

    :param threads: How many calls may run at once.
    :param name: Prefix of the thread names.
    :param on_dropped: Called on the loop with the result of a call whose
        future was already done when it returned (the caller gave up on it:
        a timeout), so that what the result holds can be released.
    """

    def __init__(
        self,
        threads: int = 1,
        name: str = "ml2p-predict",
        on_dropped: Callable[[Any], None] | None = None,
    ):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._name = name
        self._on_dropped = on_dropped
        self._lock = threading.Lock()
        # Threads to retire: one per replacement started for a stuck call.
        self._surplus = 0
        self._threads: list[threading.Thread] = []
        # Results waiting for the loop, per loop, and whether a drain is scheduled.
        self._done: Any = collections.deque()
        self._wake_pending = False
        for _ in range(max(1, threads)):
            self._start_thread()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def replace_stuck(self) -> None:
        """Start one more thread in place of one stuck in a call the caller gave up on.

        The stuck thread exits once its call returns, so the number of
        threads taking new calls stays the same.
        """
        with self._lock:
            self._surplus += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            self._start_thread()

    def submit(
        self, loop: asyncio.AbstractEventLoop, function: Callable[[Any], Any], argument: Any
    ) -> asyncio.Future:
        """Run ``function(argument)`` on a thread; return a future of ``loop`` for its result.

        All calls must come from the same event loop (one per server worker).
        """
        future = loop.create_future()
        self._queue.put((loop, future, function, argument))
        return future

    def _drain(self) -> None:
        # Clear the flag first: a result added while draining schedules another drain.
        self._wake_pending = False
        popleft = self._done.popleft
        while self._done:
            future, result, error = popleft()
            if not future.done():
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
            elif error is None and self._on_dropped is not None:
                # The caller gave up on it (timeout): nobody will use the result.
                self._on_dropped(result)

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
                error: BaseException | None = exc
                result = None
            else:
                error = None
            self._done.append((future, result, error))
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass
            if self._surplus:
                with self._lock:
                    if self._surplus:
                        self._surplus -= 1
                        return

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop the threads once the calls already queued are done (waits up to ``timeout``)."""
        threads = list(self._threads)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join(timeout)
