"""Lazy access to boto3.

boto3 costs about a quarter of a second to import, so nothing in ML2P imports
it at module level: clients are made here, when first needed. Clients use
botocore's ``standard`` retry mode (throttling and transient errors are
retried) and honour ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_<SERVICE>`` as boto3
does, so the same code talks to AWS, moto or any S3-compatible store.
"""

from __future__ import annotations

from typing import Any


def client_config(**kw: Any) -> Any:
    """Return the :class:`botocore.config.Config` ML2P uses for every client."""
    from botocore.config import Config

    kw.setdefault("retries", {"mode": "standard", "max_attempts": 5})
    kw.setdefault("max_pool_connections", 32)
    return Config(**kw)


def session(session: Any = None) -> Any:
    """Return ``session``, or a new default :class:`boto3.session.Session`."""
    if session is not None:
        return session
    import boto3

    return boto3.session.Session()


def client(service: str, session_: Any = None, **kw: Any) -> Any:
    """Return a boto3 client for ``service`` with ML2P's retry configuration."""
    kw.setdefault("config", client_config())
    return session(session_).client(service, **kw)
