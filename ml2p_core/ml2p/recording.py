"""Where invocation records go.

A *recorder* stores one invocation record, given its S3 key and JSON body.
:class:`S3Recorder` writes it at once (the ML2P 0.6 semantics: when
``record_invoke`` returns, the record is stored). The server gives its
predictors a background recorder instead (:mod:`ml2p.serving.recorder`),
which moves the S3 write off the request path.

Two optional methods let a recorder take more work off the request path;
:meth:`ml2p.core.ModelPredictor.invoke` and ``batch_invoke`` use them when
present:

``record_many(items)``
    store several ``(key, body)`` records (a batch invocation) in one call;
``record_invocations(invocations)``
    store ``(key prefix, time.time(), datum, prediction)`` tuples, naming
    each record with the default id (``ts-<ISO UTC of that time>--uuid-<uuid4>``)
    and encoding ``{"input": datum, "result": prediction}`` itself, later;
    ``prediction`` is the whole ``{"metadata": ..., "result": ...}`` that
    ``invoke`` returns (for a batch, each datum's own).
    Used only when no plugin adds record-id pairs and the predictor keeps
    the default ``record_invoke_id`` and ``record_invoke``.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Sequence, Tuple

try:  # Python 3.8+ has Protocol in typing
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]


class Recorder(Protocol):
    """Stores invocation records."""

    def record(self, key: str, body: bytes) -> None:
        """Store ``body`` (a JSON document) at ``key`` in the project bucket."""

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush what is pending and release resources."""


class S3Recorder:
    """Write each record to S3 synchronously, one object per record.

    :param bucket: The project bucket.
    :param session: A boto3 session, or ``None`` for a default one (made on
        first use, so constructing a recorder does not import boto3).
    """

    def __init__(self, bucket: str, session: Any = None, client: Any = None):
        self.bucket = bucket
        self._session = session
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from ml2p import aws

                    self._client = aws.client("s3", self._session)
        return self._client

    def record(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
        )

    def record_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        """Store each ``(key, body)`` of ``items``, in order, before returning."""
        for key, body in items:
            self.record(key, body)

    def close(self, timeout: Optional[float] = None) -> None:
        return None
