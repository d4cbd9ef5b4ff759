"""One client connection of a front: an asyncio protocol whose requests :mod:`.reading` parses whole.

A request reaches the front's handler only once its body is complete; answers go out in request order
(pipelined requests wait their turn, and reading pauses while an answer waits for the client to read).
The connection's deadlines are one lazy timer: it fires no later than the current state's deadline
(idle between requests, reading the head, reading the body, or sending) and re-arms when that moved.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from .accesslog import Exchange
from .limits import RATE_SLACK, ClientError
from .reading import RequestReader
from .wire import Front, OwnResponse, WireResponse, response_head

log = logging.getLogger("modelhub.front")
NEVER = float("inf")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connection(asyncio.Protocol):
    def __init__(self, front: Front, refuse: str | None = None) -> None:
        self.front = front
        self.limits = front.limits
        self.refuse = refuse  # answer 503 with this at once and close
        self.loop = asyncio.get_running_loop()
        self.reader = RequestReader(front.limits, self._send_continue)
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.first = True  # no answer sent yet on this connection
        self.phase_start = time.monotonic()  # the connection's start or the end of the last answer
        self.sending: Exchange | None = None  # an answer above the transport's high-water mark, not yet read
        self.send_until = NEVER  # while the transport holds more than its high-water mark: when to give up
        self.read_paused = False
        self.must_close = False  # answer what was read, then close (an upgrade, or the client's end of stream)
        self.ended = False  # closed or closing: nothing more is read or answered
        self.error: ClientError | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = NEVER

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.front.connections.add(self)
        self.front.open += 1
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        reader = self.reader
        reader.peer, reader.local = (str(peer[0]), int(peer[1])), (str(local[0]), int(local[1]))
        reader.client = reader.exchange.client = str(peer[0])
        if self.refuse is None and self.front.open > self.limits.max_connections:
            self.refuse = "too many open connections; retry in a moment"
        if self.refuse is not None:
            self.send_error(ClientError(503, self.refuse))
            return
        self._arm(self.phase_start + self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.sending is not None:
            self._finish(self.sending)
            self.sending = None
        self.transport = None
        self.ended = True
        self.reader.complete.clear()
        self.front.connections.discard(self)
        self.front.open -= 1
        if self.front.on_close is not None:
            self.front.on_close()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.error is not None or self.must_close or self.ended:
            return  # after an error or an upgrade, nothing more is read
        self.error = self.reader.feed(data)
        self.must_close = self.reader.upgrade
        self._process()

    def eof_received(self) -> bool | None:
        if self.reader.reading and self.reader.head_done and not self.ended:
            self.error = ClientError(400, "the connection closed before the request body was complete")
        elif self.reader.complete or self.sending is not None:
            self.must_close = True  # the requests read so far are answered, then the connection closes
        else:
            return None  # asyncio closes the transport
        self._process()
        return True

    @property
    def write_paused(self) -> bool:
        return self.send_until != NEVER

    def pause_writing(self) -> None:
        self.send_until = time.monotonic() + self.limits.send_timeout
        self._arm(self.send_until)

    def resume_writing(self) -> None:
        self.send_until = NEVER
        if self.sending is not None:
            exchange, self.sending = self.sending, None
            self._finish(exchange)
        self._process()

    # -- answering --------------------------------------------------------------------
    def _process(self) -> None:
        """Answer the complete requests in order; then the next step: an error, a close, or read on."""
        queue = self.reader.complete
        while queue and not self.write_paused and not self.ended:
            parsed = queue.popleft()
            self.front.in_flight += 1
            try:
                response = self.front.handler(parsed.request)
            except Exception:
                log.exception("the front's handler failed on %s %s", parsed.request.method, parsed.request.target)
                self._end(abort=True)
                return
            finally:
                self.front.in_flight -= 1
            close = not parsed.keep_alive or self.front.closing or (self.must_close and not queue)
            self._send(response, parsed.exchange, parsed.head, close)
        if self.ended:
            return
        if queue:  # an answer waits for the client to read it: so does the next request
            self._pause_reading(True)
        elif self.error is not None:
            self.send_error(self.error)
        elif self.must_close:
            self._end()
        else:
            self._pause_reading(False)
            due = self._due()
            if due is not None:
                self._arm(due)

    def _send(self, response: WireResponse, exchange: Exchange, head: bool, close: bool) -> None:
        assert self.transport is not None
        exchange.request_id = exchange.request_id or uuid.uuid4().hex
        exchange.status, exchange.sent = response.status, 0 if head else len(response.body)
        exchange.by_front = isinstance(response, OwnResponse)
        try:
            data = response_head(response, exchange.request_id, close)
        except ValueError:  # a header value with a line break, or not Latin-1
            log.exception("could not send a response")
            self._finish(exchange)
            self._end(abort=True)
            return
        self.transport.write(data if head or not response.body else data + response.body)
        self.first = False
        self.phase_start = time.monotonic()
        if self.write_paused:  # over the transport's high-water mark: done once the client has read it
            self.sending = exchange
        else:
            self._finish(exchange)
        if close:
            self._end()

    def _finish(self, exchange: Exchange) -> None:
        exchange.seconds = time.monotonic() - exchange.started
        if self.front.on_done is not None:
            self.front.on_done(exchange)

    def _end(self, abort: bool = False) -> None:
        """No more requests on this connection: close it once the buffered answer is sent (or at once)."""
        self.ended = True
        self.reader.complete.clear()
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def _pause_reading(self, pause: bool) -> None:
        if pause != self.read_paused and self.transport is not None and not self.transport.is_closing():
            self.read_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _send_continue(self) -> None:
        if self.transport is not None:
            self.transport.write(CONTINUE)

    def send_error(self, error: ClientError) -> None:
        """An answer of the HTTP layer itself (JSON with CORS headers), then the connection closes."""
        if self.transport is None or self.ended:
            return
        response = self.front.error_response(error.status, error.message)
        self._send(response, self.reader.exchange, False, True)

    # -- deadlines ----------------------------------------------------------------------
    def _arm(self, when: float) -> None:
        if when < self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(when, self._expire)
            self.timer_at = when

    def _due(self) -> float | None:
        """When the current state's deadline passes; None while an answer is on its way."""
        limits, reader = self.limits, self.reader
        if self.write_paused:
            return self.send_until
        if reader.complete:
            return None
        if reader.reading and reader.head_done:  # the body: body_timeout, then min_body_rate for all of it
            return reader.body_start + limits.body_timeout + (reader.size + RATE_SLACK) / limits.min_body_rate
        if reader.reading or self.first:
            return self.phase_start + limits.header_timeout
        return self.phase_start + limits.keepalive_timeout

    def _expire(self) -> None:
        self.timer, self.timer_at = None, NEVER
        if self.transport is None or (self.ended and not self.write_paused):
            return
        due = self._due()
        if due is None:
            return
        if time.monotonic() < due:
            self._arm(due)
            return
        limits, reader = self.limits, self.reader
        if self.write_paused:
            self._end(abort=True)  # the client does not read its answer
        elif reader.reading and reader.head_done:
            rate, grace = limits.min_body_rate, limits.body_timeout
            self.send_error(
                ClientError(408, f"the request body arrived too slowly (at least {rate:g} bytes/s after {grace:g} s)")
            )
        elif reader.reading or self.first:
            self.send_error(ClientError(408, f"the request headers did not arrive within {limits.header_timeout:g} s"))
        else:  # kept alive and idle; if its last answer is still unread, the connection is dropped
            self._end(abort=bool(self.transport.get_write_buffer_size()))

    # -- shutdown -------------------------------------------------------------------------
    def between_requests(self) -> bool:
        """Answered, and nothing of a next request read yet (it may be waiting in the socket)."""
        return not (self.first or self.reader.reading or self.reader.complete or self.sending or self.ended)

    def close(self) -> None:
        self._end()
