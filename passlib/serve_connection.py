"""uvicorn's h11 connection with a deadline for receiving each request (headers and body).

uvicorn times out idle keep-alive connections (`timeout_keep_alive`), but once a client has sent a
first byte of a request nothing limits how long it may take over the rest: a client that stalls in
its headers or its body holds the connection forever. Here every request must arrive in full within
`read_timeout_s` of the connection opening or of the previous answer's end. When the deadline
passes before the headers are complete, the client gets 408 and the connection is closed; when it
passes while the body is still coming, the connection is closed (the app sees a disconnect). Time the
app spends answering does not count. The size of the headers is bounded by h11
(`h11_max_incomplete_event_size`: a larger head is a 400).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
_TIMEOUT_REASON = b"the request did not arrive in time\n"
REQUEST_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                          b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                          % (len(_TIMEOUT_REASON), _TIMEOUT_REASON))


class DeadlineH11Protocol(H11Protocol):
    """H11Protocol that closes connections whose request does not arrive within `read_timeout_s`."""

    def __init__(self, *arguments: Any, read_timeout_s: float, **keywords: Any) -> None:
        super().__init__(*arguments, **keywords)
        self.read_timeout_s = read_timeout_s
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _RECEIVED:
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_deadline()
        if not self.transport.is_closing() and self.conn.their_state not in _RECEIVED:
            self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.read_timeout_s, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(REQUEST_TIMEOUT_ANSWER)
        self.logger.info("closing a connection whose request did not arrive within %g s", self.read_timeout_s)
        self.transport.close()
