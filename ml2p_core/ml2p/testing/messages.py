"""What the test clients send and what they answer.

:class:`ml2p.testing.PredictionClient` (in this process) and
:class:`ml2p.testing.ServedPredictor` (over HTTP) take the same request
arguments (:func:`encode_request`) and return the same
:class:`ml2p.testing.Response`, shaped like the response of Flask's test
client, so that a test moved from ML2P 0.6 keeps its assertions.
"""

from __future__ import annotations

import http
import json as jsonlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

HeadersArg = Union[Mapping[str, str], Iterable[tuple[str, str]], None]


def encode_request(
    json: Any = None,
    data: bytes | bytearray | memoryview | str | None = None,
    headers: HeadersArg = None,
    content_type: str | None = None,
) -> tuple[bytes, list[tuple[str, str]]]:
    """Return the body and headers of a request, as Flask's test client builds them.

    :param json: Sent as JSON (``Content-Type: application/json`` unless
        another is given); ``None`` sends no JSON body (send ``data="null"``
        for a JSON null).
    :param data: The raw body: bytes, or text sent as UTF-8.
    :param headers: More request headers (a mapping or ``(name, value)`` pairs).
    :param content_type: The ``Content-Type`` header.
    :raises TypeError: if both ``json`` and ``data`` are given, or ``data`` is
        not bytes or text (form fields are not supported: the server reads
        JSON, JSON Lines and CSV).
    """
    pairs = _header_pairs(headers)
    if json is not None and data is not None:
        raise TypeError("give json or data, not both")
    if json is not None:
        body = jsonlib.dumps(json).encode("utf-8")
        if content_type is None and not _has(pairs, "content-type"):
            content_type = "application/json"
    elif data is None:
        body = b""
    elif isinstance(data, str):
        body = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        body = bytes(data)
    else:
        raise TypeError(
            f"data must be bytes or text, not {type(data).__name__} "
            "(pass json=... to send a JSON body)"
        )
    if content_type is not None:
        pairs = [(k, v) for k, v in pairs if k.lower() != "content-type"]
        pairs.append(("Content-Type", content_type))
    return body, pairs


def _header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in items]


def _has(pairs: list[tuple[str, str]], name: str) -> bool:
    return any(k.lower() == name for k, _ in pairs)


class Headers(Mapping[str, str]):
    """Response headers: a read-only mapping whose names ignore case.

    ``headers[name]`` is the first value of ``name``; :meth:`get_all` gives
    every value. Names are kept in lower case.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        self._pairs = [(name.lower(), value) for name, value in pairs]

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for key, value in self._pairs:
            if key == wanted:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, _ in self._pairs:
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({key for key, _ in self._pairs})

    def get_all(self, name: str) -> list[str]:
        """Return every value of header ``name``, in the order received."""
        wanted = name.lower()
        return [value for key, value in self._pairs if key == wanted]

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class Response:
    """A response of the prediction server, as Flask's test client returns one.

    :ivar int status_code: The HTTP status, e.g. ``200``.
    :ivar Headers headers: The headers (names ignore case).
    :ivar bytes data: The body.
    """

    def __init__(self, status_code: int, headers: Iterable[tuple[str, str]], data: bytes):
        self.status_code = status_code
        self.headers = Headers(headers)
        self.data = data

    @property
    def status(self) -> str:
        """The status line's code and reason, e.g. ``"200 OK"`` (as Flask's)."""
        try:
            reason = http.HTTPStatus(self.status_code).phrase
        except ValueError:
            return str(self.status_code)
        return f"{self.status_code} {reason}"

    @property
    def content(self) -> bytes:
        """The body (the name ``requests`` and ``httpx`` use for ``data``)."""
        return self.data

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.data.decode("utf-8", errors="replace")

    def get_data(self, as_text: bool = False) -> bytes | str:
        """Return the body, as text if ``as_text``."""
        return self.text if as_text else self.data

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header (``""`` when there is none)."""
        return self.headers.get("content-type", "")

    @property
    def mimetype(self) -> str:
        """The media type of the body, without parameters, in lower case."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def is_json(self) -> bool:
        """Whether the body is JSON (``application/json`` or ``*/*+json``)."""
        mimetype = self.mimetype
        return mimetype == "application/json" or mimetype.endswith("+json")

    def get_json(self, force: bool = False, silent: bool = False) -> Any:
        """Return the body parsed as JSON.

        :param force: Parse it even if the Content-Type is not JSON
            (otherwise ``None`` is returned for such a body, as in Flask).
        :param silent: Return ``None`` instead of raising if it is not valid JSON.
        :raises ValueError: if the body is not valid JSON and not ``silent``.
        """
        if not (force or self.is_json):
            return None
        try:
            return jsonlib.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` if it is not JSON (see :meth:`get_json`)."""
        return self.get_json()

    def __repr__(self) -> str:
        return f"<Response {self.status!r} {self.data[:200]!r}>"


class RequestMethods:
    """``get``, ``post``... for a client whose :meth:`open` makes one request."""

    def open(
        self,
        path: str,
        method: str = "GET",
        *,
        json: Any = None,
        data: bytes | bytearray | memoryview | str | None = None,
        headers: HeadersArg = None,
        content_type: str | None = None,
    ) -> Response:
        """Make one request and return its :class:`ml2p.testing.Response`.

        ``json``, ``data``, ``headers`` and ``content_type`` make the body and
        headers as :func:`encode_request` says.

        :param path: The path, with a query string if any (``/ping``).
        :param method: The HTTP method.
        """
        raise NotImplementedError

    def get(self, path: str, **kwargs: Any) -> Response:
        """Make a GET request (see :meth:`open`)."""
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        """Make a POST request (see :meth:`open`)."""
        return self.open(path, "POST", **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        """Make a PUT request (see :meth:`open`)."""
        return self.open(path, "PUT", **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        """Make a DELETE request (see :meth:`open`)."""
        return self.open(path, "DELETE", **kwargs)

    def head(self, path: str, **kwargs: Any) -> Response:
        """Make a HEAD request (see :meth:`open`)."""
        return self.open(path, "HEAD", **kwargs)
