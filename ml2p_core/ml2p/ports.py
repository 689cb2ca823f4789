"""A free TCP port on 127.0.0.1, for the servers ML2P starts in child processes."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listened on a moment ago.

    Another process may take it before the caller binds it: callers that
    start a server on it retry with another port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
