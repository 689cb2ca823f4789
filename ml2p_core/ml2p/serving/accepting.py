"""Accepting connections one at a time, so that workers share them evenly.

All server workers wait on the one listening socket the gunicorn master
bound. An asyncio or uvloop server accepts every connection waiting in the
backlog each time the socket is readable, so when a client opens its
connections together (a load balancer, a benchmark) the first worker to wake
takes most of them and the others idle: one worker may end up serving
nearly all of them while the other CPUs wait (``docs/serving.md`` describes
the splits seen). SageMaker keeps its connections to the container open, so
a split made at connect time lasts.

:class:`Acceptor` accepts one connection per readiness event instead. The
socket stays readable while connections wait, so every idle worker takes its
turn, and a busy worker, whose event loop comes back to the socket later,
takes fewer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Callable

logger = logging.getLogger("ml2p.serving")

#: Seconds to stop accepting after the process ran out of file descriptors.
RETRY_AFTER = 0.5
#: Seconds a worker waits, per connection it holds, before accepting another.
PAUSE_PER_CONNECTION = 0.00025
#: The longest such wait.
MAX_PAUSE = 0.002


class Acceptor:
    """Accept connections on listening sockets for an event loop, one per readiness event.

    :param loop: The running event loop.
    :param protocol_factory: Makes the protocol of each accepted connection.
    :param open_connections: How many connections this worker holds now.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], Any],
        open_connections: Callable[[], int] = lambda: 0,
    ):
        self._loop = loop
        self._factory = protocol_factory
        self._open_connections = open_connections
        self._sockets: list[socket.socket] = []
        # Connection set-ups in progress: the loop keeps only weak references.
        self._pending: set[asyncio.Future] = set()
        self._closed = False

    def start(self, sockets: list[socket.socket]) -> None:
        """Start accepting on ``sockets`` (non-blocking listening sockets)."""
        for sock in sockets:
            sock.setblocking(False)
            self._sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._accept_one, sock)

    def close(self) -> None:
        """Stop accepting; connections already accepted carry on."""
        self._closed = True
        for sock in self._sockets:
            try:
                self._loop.remove_reader(sock.fileno())
            except (ValueError, OSError):  # already closed
                pass

    def _accept_one(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:
            # Out of file descriptors (EMFILE, ENFILE) or buffers: pause, or
            # the loop would spin on a socket that stays readable.
            logger.error("accepting a connection failed, pausing %g s: %s", RETRY_AFTER, exc)
            self._loop.remove_reader(sock.fileno())
            self._loop.call_later(RETRY_AFTER, self._resume, sock)
            return
        conn.setblocking(False)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            # Answers are small: send them at once rather than wait for an ACK.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Let the other workers have the next connections: the more this one
        # holds, the longer it waits before taking another.
        pause = min(MAX_PAUSE, PAUSE_PER_CONNECTION * self._open_connections())
        if pause > 0:
            self._loop.remove_reader(sock.fileno())
            self._loop.call_later(pause, self._resume, sock)
        task = asyncio.ensure_future(
            self._loop.connect_accepted_socket(self._factory, conn), loop=self._loop
        )
        self._pending.add(task)
        task.add_done_callback(lambda done: self._connected(done, conn))

    def _connected(self, task: asyncio.Future, conn: socket.socket) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("setting up an accepted connection failed: %s", task.exception())
            conn.close()

    def _resume(self, sock: socket.socket) -> None:
        if not self._closed and sock.fileno() != -1:
            self._loop.add_reader(sock.fileno(), self._accept_one, sock)
