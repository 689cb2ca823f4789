"""A light S3 PUT for the recorder's writers: signed as botocore signs, sent over kept sockets.

boto3's ``put_object`` runs botocore's whole request pipeline on every call
(endpoint rules, event hooks, parameter checks, serialisation, retry
handlers, parsing the answer): about as much CPU per small object as the S3
server spends storing it (``BENCHMARKS.md``). A record's PUT needs only
signing and sending, so :class:`LightPut` does only that:

* the URL, the signing region and the signing name are botocore's own: they
  are taken once from a ``put_object`` call of the client that is prepared
  and signed but never sent (:func:`light_put_for`), so ``AWS_ENDPOINT_URL``,
  path or virtual-host addressing and regions are what the client would
  use; keys are URL-quoted as botocore quotes them;
* each PUT is signed with SigV4 (:mod:`ml2p.serving.sigv4`) exactly as
  botocore's ``S3SigV4Auth`` signs the same request: the same signed
  headers, canonical path and date, with the client's credentials frozen at
  that PUT (refreshable credentials keep refreshing; a session token is sent
  as ``X-Amz-Security-Token``). The payload's SHA-256 is signed, over HTTPS
  as over HTTP: the light PUT sends no checksum header (boto3's own
  ``put_object`` over HTTPS sends a CRC32 trailer instead, with an unsigned
  streaming payload), and for a PUT without one ``S3SigV4Auth`` signs the
  payload, unless the client's ``s3`` configuration sets
  ``payload_signing_enabled`` to false: then ``UNSIGNED-PAYLOAD``, as there;
* it sends ``Content-Type``, ``Content-Length`` and the headers of the extra
  ``put_object`` arguments (the SSE-KMS ones), named as botocore's S3 model
  names them;
* one keep-alive HTTP/1.1 connection per thread
  (:mod:`ml2p.serving.http_connection`, not ``http.client``), with the
  client's connect and read timeouts; a kept connection the server has
  closed is opened again once.

Answers: 2xx is stored; a 5xx, a throttle (429, ``SlowDown``,
``Throttling``) or S3's ``RequestTimeout`` raises :class:`PutFailed`, and a
network error raises as ``OSError``, for the caller to retry; any other
answer (a redirect to another region, 400, 403, 404...) raises
:class:`PutRefused`, naming the status and S3's error code: the caller
should use boto3 instead, which knows what to do with it.

HTTPS certificates are checked against the CA bundle the client checks them
against (its ``verify``, ``AWS_CA_BUNDLE``...). Proxies and client
certificates are not honoured here: :func:`light_put_for` refuses
(:class:`LightPutUnavailable`) when the environment (``HTTPS_PROXY``...) or
the client configures one, and the recorder uses boto3.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ml2p.serving.http_connection import HTTPConnection
from ml2p.serving.sigv4 import PutSigner

__all__ = [
    "LightPut",
    "LightPutUnavailable",
    "PutFailed",
    "PutRefused",
    "light_put_for",
]

#: Variables that make boto3 use a proxy (not honoured here).
UNHONOURED_ENV = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
#: S3 error codes that are retried rather than answered by boto3.
RETRIED_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}
)
_CODE = re.compile(rb"<Code>([^<]{1,200})</Code>")
_UNSENDABLE = re.compile(r"[\r\n\0]")
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class LightPutUnavailable(Exception):
    """The light PUT cannot stand in for this client's ``put_object`` (the message says why)."""


class _ErrorAnswer(Exception):
    """S3 answered a PUT with an error: its HTTP status and S3's error code (or ``""``)."""

    def __init__(self, status: int, code: str):
        super().__init__(f"HTTP {status} {code}".rstrip())
        self.status = status
        self.code = code


class PutFailed(_ErrorAnswer):
    """S3 answered a PUT with an error worth retrying (5xx, a throttle)."""


class PutRefused(_ErrorAnswer):
    """S3 answered a PUT with an error that retrying the light PUT would not mend."""


class _Prepared(Exception):
    """Stops the probe ``put_object`` once botocore has signed it, before it is sent."""

    def __init__(self, url: str, authorization: str):
        super().__init__(url)
        self.url = url
        self.authorization = authorization


class LightPut:
    """PUT objects into one bucket, signed as botocore signs them, over keep-alive connections.

    Build it with :func:`light_put_for`. Thread-safe: each thread has its own connection.

    :param prefix: The URL of the bucket's objects, up to the key (``https://host/`` or
        ``http://host:port/bucket/``).
    :param region: The signing region.
    :param signing_name: The signing name (``s3``).
    :param credentials: botocore credentials (``get_frozen_credentials`` is called per PUT).
    :param headers: Headers sent with every PUT (the SSE-KMS ones).
    :param connect_timeout: Seconds to open a connection.
    :param read_timeout: Seconds to wait for bytes of an answer.
    :param user_agent: The ``User-Agent`` header.
    :param verify: HTTPS: check the server's certificate against botocore's CA
        bundle (``True``), the bundle at this path, or not at all (``False``), as
        botocore's ``verify``.
    :param sign_payload: Sign the body's SHA-256 (``True``, what botocore does
        for these PUTs unless the client's ``s3`` configuration sets
        ``payload_signing_enabled`` to false) or send ``UNSIGNED-PAYLOAD``.
    """

    def __init__(
        self,
        prefix: str,
        region: str,
        signing_name: str,
        credentials: Any,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        user_agent: str = "ml2p",
        verify: bool | str = True,
        sign_payload: bool = True,
    ):
        from botocore.utils import percent_encode

        parts = urlsplit(prefix)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LightPutUnavailable(f"cannot PUT to {prefix!r}")
        self.prefix = prefix
        self.region = region
        self.signing_name = signing_name
        self.credentials = credentials
        self.headers = {str(name): _text(value) for name, value in (headers or {}).items()}
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        for name, value in (*self.headers.items(), ("User-Agent", user_agent)):
            if _UNSENDABLE.search(f"{name}{value}") or not name:
                raise LightPutUnavailable(f"cannot send the header {name!r}: {value!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        default_port = 443 if self._https else 80
        self._port = parts.port or default_port
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            from botocore.httpsession import get_cert_path

            self._ssl = ssl.create_default_context(
                cafile=get_cert_path(True) if verify is True else verify or None
            )
            if verify is False:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        # The Host header as http.client sends it and SigV4 signs it.
        host = f"[{self._host}]" if ":" in self._host else self._host
        if self._port != default_port:
            host = f"{host}:{self._port}"
        self._signer = PutSigner(host, region, signing_name, self.headers, sign_payload)
        self._path = parts.path
        # The fixed headers sent besides the signed ones (a fixed Content-Type is signed).
        self._sent = {n: v for n, v in self.headers.items() if n.lower() != "content-type"}
        self._fixed_head = "".join(
            f"{name}: {value}\r\n"
            for name, value in {"Host": host, "User-Agent": user_agent, **self._sent}.items()
        )
        self._quote = percent_encode
        self._local = threading.local()

    def url(self, key: str) -> str:
        """The URL of ``key``, quoted as botocore quotes a key."""
        return self.prefix + self._quote(key, safe="/~")

    def signed(self, key: str, body: bytes, content_type: str) -> Any:
        """The ``AWSRequest`` of the PUT of ``key``, signed now (not sent), as :meth:`put` signs it.

        "Now" is botocore's clock (``botocore.auth.get_current_datetime``).
        """
        from botocore import auth
        from botocore.awsrequest import AWSRequest

        quoted = self._quote(key, safe="/~")
        timestamp = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
        headers = self._signed_headers(quoted, body, content_type, timestamp)
        return AWSRequest(
            method="PUT", url=self.prefix + quoted, data=body, headers={**self._sent, **headers}
        )

    def _signed_headers(
        self, quoted: str, body: bytes, content_type: str, timestamp: str | None = None
    ) -> dict[str, str]:
        """The headers that sign the PUT of ``body`` to the ``quoted`` key, besides the fixed ones.

        Signed by :class:`~ml2p.serving.sigv4.PutSigner` at ``timestamp`` (default:
        now), with the credentials frozen now.
        """
        frozen = self.credentials.get_frozen_credentials()
        return self._signer.sign(self._path + quoted, body, content_type, frozen, timestamp)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store ``body`` at ``key``.

        :raises PutFailed: S3 answered 5xx or a throttle (retry).
        :raises PutRefused: S3 answered another error (use boto3).
        :raises OSError: the network failed (retry).
        """
        quoted = self._quote(key, safe="/~")
        signed = self._signed_headers(quoted, body, content_type)
        head = "".join(
            (
                f"PUT {self._path}{quoted} HTTP/1.1\r\n",
                self._fixed_head,
                *[f"{name}: {value}\r\n" for name, value in signed.items()],
                f"Content-Length: {len(body)}\r\n\r\n",
            )
        ).encode("latin-1")
        status, answer = self._send(head, body)
        if 200 <= status < 300:
            return
        found = _CODE.search(answer)
        code = found.group(1).decode("utf-8", "replace") if found else ""
        if status >= 500 or status == 429 or code in RETRIED_CODES:
            raise PutFailed(status, code)
        raise PutRefused(status, code)

    def _send(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        connection = getattr(self._local, "connection", None)
        reused = connection is not None
        if connection is None:
            connection = self._connect()
        try:
            return self._exchange(connection, head, body)
        except (ConnectionResetError, BrokenPipeError):
            # RemoteDisconnected is a ConnectionResetError.
            self.close_connection()
            if not reused:
                raise
        except BaseException:
            self.close_connection()
            raise
        # The server closed the kept connection while it was idle: once more on a new one.
        connection = self._connect()
        try:
            return self._exchange(connection, head, body)
        except BaseException:
            self.close_connection()
            raise

    def _exchange(self, connection: HTTPConnection, head: bytes, body: bytes) -> tuple[int, bytes]:
        answer = connection.exchange(head, body)
        if answer.will_close:
            self.close_connection()
        return answer.status, answer.body

    def _connect(self) -> HTTPConnection:
        connection = HTTPConnection(
            self._host, self._port, self.connect_timeout, self.read_timeout, self._ssl
        )
        self._local.connection = connection
        return connection

    def close_connection(self) -> None:
        """Close this thread's connection (the next PUT opens another)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def unhonoured_setting(client: Any, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy or CA bundle setting the light PUT would not honour, if one is set."""
    environ = os.environ if environ is None else environ
    for name in UNHONOURED_ENV:
        if environ.get(name, "").strip():
            return name
    config = client.meta.config
    for option in ("proxies", "client_cert"):
        if getattr(config, option, None):
            return f"the client's {option}"
    return None


def _header_names(client: Any, arguments: Mapping[str, str]) -> dict[str, str]:
    """The headers ``put_object`` sends for ``arguments``, named by botocore's S3 model."""
    members = client.meta.service_model.operation_model("PutObject").input_shape.members
    headers = {}
    for name, value in arguments.items():
        shape = members.get(name)
        if shape is None or shape.serialization.get("location") != "header":
            raise LightPutUnavailable(f"put_object argument {name} is not a header")
        headers[shape.serialization["name"]] = value
    return headers


def light_put_for(
    client: Any,
    bucket: str,
    arguments: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LightPut:
    """A :class:`LightPut` that stores objects as ``client.put_object(Bucket=bucket, ...)`` would.

    ``arguments`` are the extra ``put_object`` arguments of every PUT (header
    arguments only: ``ServerSideEncryption``, ``SSEKMSKeyId``...). The URL and
    signing scope are those of a ``put_object`` the client prepares and signs
    here, without sending it.

    :raises LightPutUnavailable: saying why (a proxy or CA bundle is set, the
        client does not sign with SigV4, no credentials...).
    """
    unhonoured = unhonoured_setting(client, environ)
    if unhonoured:
        raise LightPutUnavailable(f"{unhonoured} is set")
    headers = _header_names(client, arguments or {})
    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    if credentials is None:
        raise LightPutUnavailable("the client has no credentials")
    probe = f"ml2p-probe-{uuid.uuid4().hex}"

    def stop(request: Any, **_: Any) -> None:
        if probe in request.url:
            raise _Prepared(request.url, _text(request.headers.get("Authorization", "")))

    events = client.meta.events
    handler_id = f"ml2p-light-put-{probe}"
    events.register_first("before-send.s3.PutObject", stop, unique_id=handler_id)
    try:
        client.put_object(Bucket=bucket, Key=probe, Body=b"")
    except _Prepared as prepared:
        url, authorization = prepared.url, prepared.authorization
    except Exception as exc:
        raise LightPutUnavailable(f"preparing a PUT failed: {type(exc).__name__}: {exc}") from None
    else:  # pragma: no cover - botocore always emits before-send
        raise LightPutUnavailable("the probe PUT was sent")
    finally:
        events.unregister("before-send.s3.PutObject", unique_id=handler_id)
    scope = _CREDENTIAL.search(authorization)
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or scope is None:
        raise LightPutUnavailable("the client does not sign with SigV4")
    base, _, query = url.partition("?")
    if query or not base.endswith("/" + probe):
        raise LightPutUnavailable(f"unexpected object URL {url!r}")
    config = client.meta.config
    # The CA bundle the client checks certificates with (verify=, AWS_CA_BUNDLE, the
    # config file's ca_bundle, REQUESTS_CA_BUNDLE), as botocore resolved it.
    verify = getattr(
        getattr(getattr(client, "_endpoint", None), "http_session", None), "_verify", True
    )
    return LightPut(
        base[: -len(probe)],
        region=scope.group(1),
        signing_name=scope.group(2),
        credentials=credentials,
        headers=headers,
        connect_timeout=float(config.connect_timeout),
        read_timeout=float(config.read_timeout),
        user_agent=f"ml2p-light-put {_text(config.user_agent or '')}".strip(),
        verify=verify if isinstance(verify, (bool, str)) else True,
        sign_payload=(getattr(config, "s3", None) or {}).get("payload_signing_enabled")
        is not False,
    )
