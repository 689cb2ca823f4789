"""The light PUT's HTTP/1.1 client (ml2p.serving.http_connection) against scripted servers.

Each server here is a real socket server on 127.0.0.1 (port 0), answering
each request with the bytes a test gives it, then keeping the connection,
closing it, or resetting it; the test stops it.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading

import pytest

from ml2p.serving import s3_put
from ml2p.serving.http_connection import BadAnswer, HTTPConnection, RemoteDisconnected
from ml2p.serving.s3_put import PutFailed, PutRefused

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Request:
    """A request the server read: its head lines, and its body's length and SHA-256."""

    def __init__(self, head: bytes, body: bytes, connection: int):
        lines = head.decode("latin-1").split("\r\n")
        self.line = lines[0]
        self.headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        self.length = len(body)
        self.sha256 = hashlib.sha256(body).hexdigest()
        self.connection = connection


class Scripted:
    """A socket server answering requests in turn with ``(bytes, then)`` from a list.

    ``then`` is ``"keep"`` (the connection stays open), ``"close"`` (closed
    after the answer), ``"reset"`` (reset after the answer, as a server
    dropping an idle connection may) or ``"silent"`` (no answer at all).
    Once the list is used up every request is answered 200.
    """

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.requests: list[Request] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bucket-1/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)
        self.listener.close()
        for sock in self.open:
            sock.close()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.open.append(sock)
            sock.settimeout(0.2)
            self._converse(sock, self.connections)

    def _converse(self, sock, number):
        reader = sock.makefile("rb")
        while not self.stopping.is_set():
            try:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return  # the client closed the connection
                    head += line
            except TimeoutError:
                if head:
                    raise
                continue
            request = Request(head[:-4], b"", number)
            length = int(request.headers["Content-Length"])
            sock.settimeout(10)
            body = reader.read(length)
            sock.settimeout(0.2)
            self.requests.append(Request(head[:-4], body, number))
            answer, then = self.answers.pop(0) if self.answers else (OK, "keep")
            if then == "silent":
                self.stopping.wait(5)
                return
            sock.sendall(answer)
            if then == "close":
                sock.close()
                return
            if then == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return


def _light(url, read_timeout=5.0):
    from botocore.credentials import Credentials

    return s3_put.LightPut(url, "us-east-1", "s3", Credentials("a", "b"), read_timeout=read_timeout)


def _error(status: str, code: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{status}</Message></Error>".encode()


def test_a_chunked_error_answer_is_read_whole_and_the_connection_kept():
    body = _error("503", "SlowDown")
    chunked = b"10;ext=1\r\n" + body[:16] + b"\r\n"
    chunked += f"{len(body) - 16:x}\r\n".encode() + body[16:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    answer = b"HTTP/1.1 503 Slow Down\r\nTRANSFER-ENCODING: Chunked\r\n\r\n" + chunked
    with Scripted([(answer, "keep")]) as server:
        light = _light(server.url)
        with pytest.raises(PutFailed, match="HTTP 503 SlowDown"):
            light.put("k", b"{}", "application/json")
        light.put("k", b"{}", "application/json")
    assert [r.connection for r in server.requests] == [1, 1]


def test_a_connection_close_answer_closes_and_the_next_put_opens_another():
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: Close\r\n\r\n"
    with Scripted([(answer, "keep"), (answer, "keep")]) as server:
        light = _light(server.url)
        for i in range(3):
            light.put(f"k{i}", b"{}", "application/json")
    # The server kept each connection open: the client closed them, as told.
    assert [r.connection for r in server.requests] == [1, 2, 3]


def test_an_answer_without_length_is_read_to_the_end_of_the_stream():
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n\r\n"
    answer += _error("403", "AccessDenied")
    with Scripted([(answer, "close")]) as server:
        light = _light(server.url)
        with pytest.raises(PutRefused, match="HTTP 403 AccessDenied") as refused:
            light.put("k", b"{}", "application/json")
        assert (refused.value.status, refused.value.code) == (403, "AccessDenied")
        light.put("k", b"{}", "application/json")
    assert [r.connection for r in server.requests] == [1, 2]


def test_an_http_1_0_answer_closes_unless_kept_alive():
    plain = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    kept = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    with Scripted([(plain, "keep"), (kept, "keep"), (kept, "keep")]) as server:
        light = _light(server.url)
        for i in range(3):
            light.put(f"k{i}", b"{}", "application/json")
    assert [r.connection for r in server.requests] == [1, 2, 2]


@pytest.mark.parametrize("then", ["close", "reset"])
def test_a_kept_connection_the_server_dropped_is_opened_again_once(then):
    with Scripted([(OK, then), (OK, then)]) as server:
        light = _light(server.url)
        light.put("k0", b"{}", "application/json")
        light.put("k1", b"{}", "application/json")
        light.put("k2", b"{}", "application/json")
    assert [(r.line, r.connection) for r in server.requests] == [
        ("PUT /bucket-1/k0 HTTP/1.1", 1),
        ("PUT /bucket-1/k1 HTTP/1.1", 2),
        ("PUT /bucket-1/k2 HTTP/1.1", 3),
    ]


def test_a_new_connection_closed_without_an_answer_raises_and_is_not_retried():
    with Scripted([(b"", "close")]) as server:
        with pytest.raises(RemoteDisconnected):
            _light(server.url).put("k", b"{}", "application/json")
    assert len(server.requests) == 1
    assert isinstance(RemoteDisconnected(), OSError)


def test_a_server_that_never_answers_times_out_as_an_oserror():
    with Scripted([(b"", "silent")]) as server:
        light = _light(server.url, read_timeout=0.3)
        with pytest.raises(OSError) as failed:
            light.put("k", b"{}", "application/json")
        # socket.timeout: TimeoutError from Python 3.10, an OSError of its own on 3.9.
        assert isinstance(failed.value, socket.timeout)
        assert light._local.connection is None  # dropped: the answer may still come
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "answer,problem",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ends after 5 of 10 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked body is cut"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "headers are cut short"),
    ],
)
def test_a_malformed_answer_is_a_bad_answer_naming_the_problem(answer, problem):
    with Scripted([(answer, "close")]) as server:
        light = _light(server.url)
        with pytest.raises(BadAnswer, match=problem):
            light.put("k", b"{}", "application/json")
        assert light._local.connection is None
    assert isinstance(BadAnswer(), OSError)


def test_interim_answers_are_skipped():
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with Scripted([(answer, "keep")]) as server:
        light = _light(server.url)
        light.put("k0", b"{}", "application/json")
        light.put("k1", b"{}", "application/json")
    assert [r.connection for r in server.requests] == [1, 1]


def test_a_5_mib_body_arrives_intact_with_the_request_head_of_http_client():
    body = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32) + b"tail"
    with Scripted() as server:
        light = _light(server.url)
        light.put("big/capture 1.jsonl", body, "application/x-ndjson")
        light.put("small", b"{}", "application/json")
    big, small = server.requests
    assert (big.length, big.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert big.line == "PUT /bucket-1/big/capture%201.jsonl HTTP/1.1"
    assert big.headers["Host"] == f"127.0.0.1:{server.port}"
    assert big.headers["Content-Length"] == str(len(body))
    assert big.headers["Content-Type"] == "application/x-ndjson"
    assert big.headers["X-Amz-Content-SHA256"] == big.sha256
    assert big.headers["User-Agent"] == "ml2p"
    assert big.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=a/")
    assert (small.length, small.connection) == (2, 1)


def test_the_host_header_leaves_out_the_default_port():
    light = s3_put.LightPut("https://b.s3.amazonaws.com:443/", "us-east-1", "s3", None)
    assert b"Host: b.s3.amazonaws.com\r\n" in light._fixed_head.encode()
    light = s3_put.LightPut("http://[::1]:9000/b/", "us-east-1", "s3", None)
    assert b"Host: [::1]:9000\r\n" in light._fixed_head.encode()


@pytest.mark.parametrize(
    "headers", [{"x-amz-meta-a": "1\r\nInjected: yes"}, {"x-amz-meta-a\n": "1"}, {"": "1"}]
)
def test_headers_that_cannot_be_sent_are_refused_at_once(headers):
    with pytest.raises(s3_put.LightPutUnavailable, match="cannot send the header"):
        s3_put.LightPut("http://127.0.0.1:9/b/", "us-east-1", "s3", None, headers=headers)


def test_the_connection_itself_refuses_use_after_close():
    with Scripted() as server:
        connection = HTTPConnection("127.0.0.1", server.port, 5, 5)
        head = f"PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 2\r\n\r\n"
        assert connection.exchange(head.encode(), b"{}") == (200, b"", False)
        connection.close()
        connection.close()
        with pytest.raises(BadAnswer, match="closed"):
            connection.exchange(head.encode(), b"{}")
    assert len(server.requests) == 1
