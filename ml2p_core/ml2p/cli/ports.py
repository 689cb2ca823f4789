"""Telling a user at once that the port ``ml2p local serve`` should listen on is taken.

gunicorn would retry a taken port for five seconds, logging each attempt, and
then exit: :func:`check_port_free` says so in one line before it starts, and
:func:`port_taken_error` turns gunicorn's exit into that line when another
process took the port in between.
"""

from __future__ import annotations

import errno
import socket

from ml2p.errors import ML2PError

__all__ = ["check_port_free", "port_taken_error"]


def _bind_error(host: str, port: int) -> OSError | None:
    """Return why a listening socket cannot be bound to ``host:port`` now (``None``: it can)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, exc.strerror)
    with socket.socket(family, kind, proto) as sock:
        # As gunicorn binds: a port whose old connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc
    return None


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`~ml2p.errors.ML2PError` unless the server can listen on ``host:port``.

    The message says which port is in use (or why the address cannot be
    used) and to pass ``--port`` (or ``--host``). Port 0 (any free port) is
    not checked.
    """
    if port == 0:
        return
    error = _bind_error(host, port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        raise ML2PError(
            f"port {port} on {host} is already in use: stop what is listening there "
            "or pass --port with another port"
        )
    if error.errno == errno.EACCES:
        raise ML2PError(
            f"not allowed to listen on port {port} ({error.strerror}): "
            "pass --port with a port above 1023"
        )
    raise ML2PError(
        f"cannot listen on {host}:{port}: {error.strerror or error}; "
        "pass --host with an address of this machine"
    )


def port_taken_error(host: str, port: int) -> ML2PError | None:
    """Return the error for a server that exited because ``host:port`` was taken meanwhile.

    ``None`` if the port can be bound now: the server failed for another reason.
    """
    if port == 0:
        return None
    error = _bind_error(host, port)
    if error is None or error.errno != errno.EADDRINUSE:
        return None
    return ML2PError(
        f"port {port} on {host} was taken while the server started: pass --port with another port"
    )
