"""The error the test servers raise when they cannot serve."""

from __future__ import annotations


class ServerNotReady(RuntimeError):
    """The prediction server did not become ready: its setup failed, it exited or timed out.

    The message says which, with the setup error or the server's log.
    """
