"""The HTTP protocol of each connection: uvicorn's httptools protocol, with JSON errors.

uvicorn answers what never reaches the application itself, in plain text:
a request it cannot parse gets a ``text/plain`` 400. :class:`Protocol`
answers those in JSON, as every other error of the server is, and adds two
things uvicorn lacks:

* a request body that stops arriving (a client that sent fewer bytes than
  its Content-Length, or stalled) is answered ``408`` after
  ``ML2P_SERVER_BODY_TIMEOUT`` seconds without a byte, and the connection
  closed, instead of holding the connection forever;
* at shutdown, a request still unanswered when the grace runs out is
  answered ``503`` in JSON (:meth:`Protocol.abort`) before uvicorn cancels it.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: Seconds a request body may go without a byte arriving (``ML2P_SERVER_BODY_TIMEOUT``).
DEFAULT_BODY_TIMEOUT = 10.0


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with JSON error answers and a body timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = getattr(self.config.app, "settings", None)
        self._body_timeout = float(getattr(settings, "body_timeout", DEFAULT_BODY_TIMEOUT))
        self._body_timer: Any = None
        self._received = 0
        self._received_at_arm = 0

    def send_400_response(self, msg: str) -> None:
        """Answer a request that cannot be parsed: a JSON 400, then close."""
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()  # an answer is half written: nothing else can follow
            return
        self.send_error(400, "invalid HTTP request: it could not be parsed")

    def send_error(self, status: int, message: str) -> None:
        """Write a complete JSON error answer ``{"message": ...}`` and close the connection."""
        if self.transport.is_closing():
            return
        body = json.dumps({"message": message}).encode("utf-8")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        if self.cycle is not None:
            # What the application sends now goes nowhere.
            self.cycle.disconnected = True
        self.transport.close()

    def abort(self, status: int, message: str) -> bool:
        """Answer the request in progress with a JSON error now, if its answer has not begun."""
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            return False
        self.send_error(status, message)
        return True

    # -- the body timeout ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        super().data_received(data)
        cycle = self.cycle
        if (
            self._body_timer is None
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not self.transport.is_closing()
        ):
            self._arm()

    def _arm(self) -> None:
        self._received_at_arm = self._received
        self._body_timer = self.loop.call_later(self._body_timeout, self._body_timed_out)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if (
            cycle is None
            or not cycle.more_body
            or cycle.response_started
            or self.transport.is_closing()
        ):
            return
        if self._received != self._received_at_arm or self.flow.read_paused:
            # Bytes came (or the application has not read them yet): not the client's fault.
            self._arm()
            return
        self.logger.warning(
            "request body incomplete after %g s without a byte: answered 408", self._body_timeout
        )
        self.send_error(408, f"request body incomplete: no byte of it for {self._body_timeout:g} s")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().connection_lost(exc)
