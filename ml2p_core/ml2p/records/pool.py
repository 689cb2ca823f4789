"""Running work concurrently on a bounded window, keeping the input's order."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, Callable

__all__ = ["Window", "ordered_map"]


class Window:
    """What :func:`ordered_map` holds at most, and has held (instrumentation for tests).

    :param size: Most items submitted and not yet handed back.
    :param max_weight: With ``weight``, no item is submitted while those
        pending weigh this much or more (so at most one item's weight over).
    :param weight: An item's weight (for objects read from S3: their size).
    """

    def __init__(
        self,
        size: int,
        max_weight: int | None = None,
        weight: Callable[[Any], int] | None = None,
    ):
        if size < 1:
            raise ValueError(f"a window holds at least 1 item, not {size}")
        self.size = size
        self.max_weight = max_weight
        self.weight = weight
        #: The most items submitted and not yet handed back at any time.
        self.peak = 0
        #: The most weight submitted and not yet handed back at any time.
        self.peak_weight = 0
        #: Items submitted so far.
        self.submitted = 0


def ordered_map(
    executor: Executor,
    func: Callable[[Any], Any],
    items: Iterable[Any],
    window: Window,
    inline: Callable[[Any], bool] | None = None,
) -> Iterator[Any]:
    """Yield ``func(item)`` for each of ``items``, in their order, run on ``executor``.

    At most ``window.size`` items are submitted and not yet yielded (and,
    with a weight, about ``window.max_weight``), so memory stays bounded
    however many items there are; ``items`` is read lazily, as room frees
    up. An exception from ``func`` is raised here, at its item's turn.
    Items for which ``inline(item)`` is true are cheap: ``func`` runs on
    them at once, in this thread, and they keep their place in the order.
    When the caller stops early, what is still pending is cancelled
    (running calls finish).
    """
    pending: collections.deque[Future] = collections.deque()
    weights: collections.deque[int] = collections.deque()
    size = window.size
    weigh = window.weight if window.max_weight is not None else None
    held = 0
    try:
        for item in items:
            # Room first: hand back results until this item fits.
            while pending and (
                len(pending) >= size or (weigh is not None and held >= window.max_weight)
            ):
                held -= weights.popleft()
                yield pending.popleft().result()
            if inline is not None and inline(item):
                pending.append(_done(func, item))
            else:
                pending.append(executor.submit(func, item))
            weight = weigh(item) if weigh is not None else 0
            weights.append(weight)
            held += weight
            window.submitted += 1
            if len(pending) > window.peak:
                window.peak = len(pending)
            if held > window.peak_weight:
                window.peak_weight = held
        while pending:
            held -= weights.popleft()
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _done(func: Callable[[Any], Any], item: Any) -> Future:
    future: Future = Future()
    try:
        future.set_result(func(item))
    except Exception as exc:
        future.set_exception(exc)
    return future
