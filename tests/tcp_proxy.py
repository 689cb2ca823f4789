"""A TCP proxy on 127.0.0.1 that a test can break on purpose, to make a real server unreachable.

The server under test talks to ``proxy.url`` instead of the upstream (moto)
and sees real network faults: connections refused and reset, or requests
that reach the upstream (and take effect there) while their answers are
lost on the way back.

Modes:

``forward``
    pass bytes both ways (the normal case);
``refuse``
    reset every open connection, and every new one as soon as it is
    accepted: the upstream looks down;
``drop_replies``
    forward requests to the upstream, so they take effect, but reset the
    client's connection instead of passing the upstream's final answer back
    (a ``100 Continue`` still passes, so that the body is sent): an
    acknowledgement lost on the way.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

MODES = ("forward", "refuse", "drop_replies")


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset rather than an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _interim(data: bytes) -> bool:
    """Whether ``data`` starts with an interim HTTP answer (``100 Continue``: send the body)."""
    return data.startswith((b"HTTP/1.1 100 ", b"HTTP/1.0 100 "))


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``upstream`` until told otherwise; use as a context manager."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.mode = "forward"
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        #: Connections accepted, and requests whose replies were dropped.
        self.accepted = 0
        self.dropped_replies = 0

    @classmethod
    def to_url(cls, url: str) -> TcpProxy:
        """A proxy in front of ``http://host:port``."""
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        return cls((host, int(port)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        """Switch mode; ``refuse`` and ``drop_replies`` also reset the connections open now."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        self.mode = mode
        if mode != "forward":
            with self._lock:
                pairs, self._pairs = self._pairs, []
            for client, upstream in pairs:
                _reset(client)
                _reset(upstream)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening and reset every connection."""
        self._stopped.set()
        self.set_mode("refuse")
        try:
            self._listener.close()
        except OSError:
            pass
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            self.accepted += 1
            if self.mode == "refuse":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        try:
            while not self._stopped.is_set():
                ready, _, _ = select.select(sockets, [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                    elif self.mode == "drop_replies" and not _interim(data):
                        # The upstream has answered: the request took effect. Lose the answer.
                        self.dropped_replies += 1
                        return
                    else:
                        client.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                if (client, upstream) in self._pairs:
                    self._pairs.remove((client, upstream))
            if self.mode == "forward":
                client.close()
            else:
                _reset(client)
            upstream.close()
