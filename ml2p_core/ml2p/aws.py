"""Lazy access to boto3.

boto3 is slow to import (``BENCHMARKS.md``, start-up costs, measures it), so
nothing in ML2P imports it at module level: clients are made here, when first
needed. Clients use botocore's ``standard`` retry mode (throttling and
transient errors are retried) and honour
``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_<SERVICE>`` as boto3 does, so the same
code talks to AWS, moto or any S3-compatible store.

Clients made without a session of the caller's come from one default session
per process: a new session would load botocore's service models again for
every client. The endpoint and the region are read each time a client is
made; the credentials once per session, so the default session is made again
when a variable that chooses them changes (:data:`SESSION_VARIABLES`). boto3
sessions are not safe to share between threads, so clients are made one at a
time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

#: Environment variables a session reads once (the credentials and the profile):
#: when one of them changes, the default session is made again.
SESSION_VARIABLES: tuple[str, ...] = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)

# Guards the default session and every client creation (a session must not
# make clients on two threads at once).
_lock = threading.Lock()
_default: tuple[tuple[str | None, ...], Any] | None = None


def _reset_lock_after_fork() -> None:
    # A fork while another thread held the lock would leave it held forever
    # in the child (gunicorn forks its workers).
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


def client_config(**kw: Any) -> Any:
    """Return the :class:`botocore.config.Config` ML2P uses for every client."""
    from botocore.config import Config

    kw.setdefault("retries", {"mode": "standard", "max_attempts": 5})
    kw.setdefault("max_pool_connections", 32)
    return Config(**kw)


def _default_session() -> Any:
    """The process's default session; the caller holds ``_lock``."""
    global _default
    key = tuple(os.environ.get(name) for name in SESSION_VARIABLES)
    if _default is None or _default[0] != key:
        import boto3

        _default = (key, boto3.session.Session())
    return _default[1]


def session(session: Any = None) -> Any:
    """Return ``session``, or the process's default :class:`boto3.session.Session`.

    The default session is made on first use, and made again when one of
    :data:`SESSION_VARIABLES` has changed since.
    """
    if session is not None:
        return session
    with _lock:
        return _default_session()


def client(service: str, session_: Any = None, **kw: Any) -> Any:
    """Return a boto3 client for ``service`` with ML2P's retry configuration.

    :param session_: The session to make it with (default: :func:`session`'s).
    :param kw: More arguments of :meth:`boto3.session.Session.client`.
    """
    kw.setdefault("config", client_config())
    with _lock:
        made_by = _default_session() if session_ is None else session_
        return made_by.client(service, **kw)
