"""A minimal HTTP/1.1 client connection for the light S3 PUT: a request out, its answer in.

``http.client`` builds each request line by line, parses every answer's
headers with ``email.parser`` and wraps the body in a response object: most
of the client CPU of a small PUT. :class:`HTTPConnection` does what a kept
S3 connection needs and nothing more:

* the request goes out in one ``sendall`` (head and body together), or two
  for large bodies so that a multi-MiB body is not copied;
* the answer is read through a buffered reader: the status line, the
  headers (only ``Content-Length``, ``Transfer-Encoding: chunked`` and
  ``Connection`` matter, names in any case), then the body: by length,
  chunked, or up to the end of the stream when the answer gives neither;
  interim ``1xx`` answers are skipped;
* an answer that says ``Connection: close`` (or an HTTP/1.0 one without
  ``keep-alive``, or one read to the end of the stream) marks the
  connection closed.

Failures are ``OSError``\\ s: the socket's own, :class:`RemoteDisconnected`
when the server closed the connection before answering (as a server does
with a kept connection it found idle), :class:`BadAnswer` for an answer
that is not HTTP or is cut short.
"""

from __future__ import annotations

import socket
import ssl
from typing import NamedTuple

__all__ = ["Answer", "BadAnswer", "HTTPConnection", "RemoteDisconnected"]

#: Bodies up to this size are sent with the head in one ``sendall`` (one copy).
JOIN_LIMIT = 64 * 1024
#: The longest status or header line read.
MAX_LINE = 65536
#: The most header lines read in one answer.
MAX_HEADERS = 100
#: Statuses whose answers have no body.
_NO_BODY = frozenset({204, 304})


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering."""


class BadAnswer(OSError):
    """The server's answer is not HTTP/1.x, or it is cut short (the message says how)."""


class Answer(NamedTuple):
    """An HTTP answer: its status, its body, and whether the server closes the connection."""

    status: int
    body: bytes
    will_close: bool


class HTTPConnection:
    """One kept HTTP/1.1 connection (over TLS with ``context``).

    :param host: The host to connect to.
    :param port: Its port.
    :param connect_timeout: Seconds to connect (and to shake hands over TLS).
    :param read_timeout: Seconds any later send or receive may wait.
    :param context: The TLS context (``None``: plain HTTP); the server's
        name is checked against ``host`` when the context checks host names.
    """

    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext | None = None,
    ):
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            # The head may go out before the body: no waiting for the ACK of the head.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket | None = sock
        self._reader = sock.makefile("rb")

    def exchange(self, head: bytes, body: bytes) -> Answer:
        """Send a request (``head`` ends with the blank line) and read its answer.

        :raises RemoteDisconnected: the server closed the connection first.
        :raises BadAnswer: the answer is not HTTP, or is cut short.
        :raises OSError: the network failed or timed out.
        """
        sock = self.sock
        if sock is None:
            raise BadAnswer("the connection is closed")
        if len(body) <= JOIN_LIMIT:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.sendall(body)
        return self._answer()

    def _answer(self) -> Answer:
        reader = self._reader
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise RemoteDisconnected("the server closed the connection without answering")
        while True:
            version, status = _status(line)
            length: int | None = None
            chunked = False
            close: bool | None = None
            for _ in range(MAX_HEADERS + 1):
                header = reader.readline(MAX_LINE + 1)
                if header in (b"\r\n", b"\n"):
                    break
                if not header:
                    raise BadAnswer("the answer's headers are cut short")
                if len(header) > MAX_LINE:
                    raise BadAnswer("an answer header line is too long")
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = _length(value)
                elif name == b"transfer-encoding":
                    chunked = value.strip().lower().endswith(b"chunked")
                elif name == b"connection":
                    tokens = {token.strip() for token in value.lower().split(b",")}
                    if b"close" in tokens:
                        close = True
                    elif b"keep-alive" in tokens and close is None:
                        close = False
            else:
                raise BadAnswer(f"the answer has more than {MAX_HEADERS} headers")
            if 100 <= status < 200:
                # An interim answer (100 Continue...): the real one follows.
                line = reader.readline(MAX_LINE + 1)
                if not line:
                    raise BadAnswer("the answer ends after an interim answer")
                continue
            break
        if close is None:
            close = version == b"HTTP/1.0"
        if status in _NO_BODY:
            body = b""
        elif chunked:
            body = self._chunked()
        elif length is not None:
            body = reader.read(length) if length else b""
            if len(body) < length:
                raise BadAnswer(f"the answer's body ends after {len(body)} of {length} bytes")
        else:
            body = reader.read()
            close = True
        return Answer(status, body, close)

    def _chunked(self) -> bytes:
        reader = self._reader
        parts = []
        while True:
            line = reader.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                raise BadAnswer("the answer's chunked body is cut short")
            size = _chunk_size(line)
            if size == 0:
                break
            chunk = reader.read(size + 2)
            if len(chunk) < size + 2:
                raise BadAnswer("the answer's chunked body is cut short")
            parts.append(chunk[:size])
        for _ in range(MAX_HEADERS + 1):  # trailers, up to the blank line
            line = reader.readline(MAX_LINE + 1)
            if not line:
                raise BadAnswer("the answer's chunked body is cut short")
            if line in (b"\r\n", b"\n"):
                return b"".join(parts)
        raise BadAnswer(f"the answer has more than {MAX_HEADERS} trailers")

    def close(self) -> None:
        """Close the connection (again is fine)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self._reader.close()
            sock.close()


def _status(line: bytes) -> tuple[bytes, int]:
    """The version and status of an answer's status line (``HTTP/1.1 200 OK``)."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
        raise BadAnswer(f"not an HTTP/1.x status line: {line[:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise BadAnswer(f"not an HTTP/1.x status line: {line[:80]!r}") from None
    return parts[0], status


def _length(value: bytes) -> int:
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise BadAnswer(f"bad Content-Length {value.strip()[:40]!r}")
    return length


def _chunk_size(line: bytes) -> int:
    try:
        size = int(line.split(b";", 1)[0], 16)
    except ValueError:
        size = -1
    if size < 0:
        raise BadAnswer(f"bad chunk size line {line[:40]!r}")
    return size
