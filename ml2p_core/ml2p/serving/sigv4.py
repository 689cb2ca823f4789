"""SigV4 signatures of the light S3 PUT, made as botocore's ``S3SigV4Auth`` makes them.

botocore's signer builds an ``AWSRequest`` and walks its generic canonical
request code for every PUT; the light PUT's requests always have the same
shape (``PUT``, a quoted object path, no query, the same few headers), so
:class:`PutSigner` signs them with ``hashlib`` and ``hmac`` only and keeps
the signing key (four HMACs) for as long as the secret key and the date do.

What is signed is what ``S3SigV4Auth.add_auth`` signs for the same request:

* the headers ``Content-Type``, ``Host`` (``host``, or ``host:port`` when the
  port is not the scheme's default), ``X-Amz-Content-SHA256``, ``X-Amz-Date``,
  ``X-Amz-Security-Token`` (when the credentials have a token) and the
  light PUT's fixed headers (the SSE-KMS ones), by lower-case name, sorted,
  values trimmed and inner runs of spaces made one;
* the path as sent (S3 paths are not normalised, so not encoded twice);
* the payload: its SHA-256, over HTTP as over HTTPS. The light PUT sends no
  ``Content-MD5`` or checksum header, and without one ``S3SigV4Auth`` signs
  the payload whatever the scheme; only a client configured with
  ``s3={"payload_signing_enabled": False}`` has botocore send
  ``UNSIGNED-PAYLOAD`` instead (``sign_payload=False`` here).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["UNSIGNED_PAYLOAD", "PutSigner", "timestamp_now"]

#: The payload hash of a PUT whose body is not signed.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: SigV4's date format (``X-Amz-Date``).
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: Headers SigV4 (as botocore) never signs.
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def timestamp_now() -> str:
    """The current UTC time as ``X-Amz-Date`` writes it (``20260304T050607Z``)."""
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime())


def _trimmed(value: str) -> str:
    """A header value as SigV4 canonicalises it: trimmed, inner whitespace runs made one space."""
    return " ".join(value.split())


class PutSigner:
    """Signs S3 PUTs to one host in one region, as botocore's ``S3SigV4Auth`` would.

    :param host: The ``Host`` header (``host`` or ``host:port``).
    :param region: The signing region.
    :param service: The signing name (``s3``).
    :param headers: The headers sent with every PUT besides those :meth:`sign`
        returns (the SSE-KMS ones); a ``Content-Type`` among them replaces the
        per-PUT one.
    :param sign_payload: Sign the body's SHA-256 (``True``, botocore's choice
        for these requests) or send ``UNSIGNED-PAYLOAD``.
    """

    def __init__(
        self,
        host: str,
        region: str,
        service: str,
        headers: Mapping[str, str] | None = None,
        sign_payload: bool = True,
    ):
        self.host = host
        self.region = region
        self.service = service
        self.sign_payload = sign_payload
        fixed: dict[str, str] = {}
        for name, value in (headers or {}).items():
            lname = name.lower()
            if lname in UNSIGNED_HEADERS:
                continue
            # Several values of one header are signed joined by commas.
            trimmed = _trimmed(value)
            fixed[lname] = f"{fixed[lname]},{trimmed}" if lname in fixed else trimmed
        self._fixed_content_type = fixed.pop("content-type", None)
        self._fixed = sorted(fixed.items())
        self._scope_tail = f"/{region}/{service}/aws4_request"
        # The last (secret key, date) and its signing key: dates change once a day.
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """The SigV4 signing key of ``secret_key`` on ``date`` (``YYYYMMDD``), cached."""
        cached_secret, cached_date, key = self._key
        if cached_secret == secret_key and cached_date == date and key:
            return key
        key = f"AWS4{secret_key}".encode()
        for part in (date, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self._key = (secret_key, date, key)
        return key

    def payload_hash(self, body: bytes) -> str:
        """``X-Amz-Content-SHA256`` for ``body``."""
        return hashlib.sha256(body).hexdigest() if self.sign_payload else UNSIGNED_PAYLOAD

    def sign(
        self,
        path: str,
        body: bytes,
        content_type: str,
        credentials: Any,
        timestamp: str | None = None,
    ) -> dict[str, str]:
        """The headers that sign the PUT of ``body`` to ``path`` (already quoted).

        :param credentials: Frozen botocore credentials (``access_key``,
            ``secret_key``, ``token``).
        :param timestamp: ``X-Amz-Date`` (default: now).
        :returns: ``Content-Type``, ``X-Amz-Date``, ``X-Amz-Security-Token``
            (with a token), ``X-Amz-Content-SHA256`` and ``Authorization``.
        """
        if timestamp is None:
            timestamp = timestamp_now()
        content_type = self._fixed_content_type or _trimmed(content_type)
        payload = self.payload_hash(body)
        token = credentials.token
        signed = [
            ("content-type", content_type),
            ("host", self.host),
            ("x-amz-content-sha256", payload),
            ("x-amz-date", timestamp),
            *self._fixed,
        ]
        if token:
            signed.append(("x-amz-security-token", _trimmed(token)))
        signed.sort()
        names = ";".join(name for name, _ in signed)
        lines = "\n".join(f"{name}:{value}" for name, value in signed)
        canonical = f"PUT\n{path}\n\n{lines}\n\n{names}\n{payload}"
        date = timestamp[:8]
        scope = date + self._scope_tail
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
        key = self.signing_key(credentials.secret_key, date)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {"Content-Type": content_type, "X-Amz-Date": timestamp}
        if token:
            headers["X-Amz-Security-Token"] = token
        headers["X-Amz-Content-SHA256"] = payload
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return headers
