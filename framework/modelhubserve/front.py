"""The event-driven HTTP/1.1 front of each worker process: reads whole requests under deadlines, then answers.

Why our own: gunicorn's threaded worker reads a started request with no deadline, so 8 connections
that send one byte stop every worker; granian closes slow headers but has no body deadline;
waitress is one process; gevent blocks on the CPU-bound model (issue #11's measurements).  Here each
worker's asyncio loop holds its connections (a slow one costs a few kilobytes, never a thread), parses
with h11 (a maintained HTTP/1.1 parser), and only a complete request reaches the app, which then runs in
the loop itself (the process is one CPU of the pool; a request hands nothing to another thread or process):

- the request line and headers must arrive within ``header_timeout`` (else 408), the body at
  ``min_body_rate`` bytes/s after its first ``body_timeout`` seconds (else 408), and a kept-alive
  connection may idle ``keepalive_timeout`` seconds between requests (then it is closed);
- at most ``max_connections`` connections are open (the main process counts them over all workers): more
  are answered 503 at once;
- every answer of the HTTP layer itself (400, 408, 413, 414, 431, 503, 505) is JSON with CORS headers;
- every answer carries the request's ``X-Request-ID`` and, once sent, goes to ``on_done`` (access log, metrics).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

import h11

from .accesslog import Exchange
from .limits import MAX_REQUEST_LINE, RATE_SLACK, ClientError, Limits, pending, read_until
from .wire import WireRequest, WireResponse

log = logging.getLogger("modelhub.front")


class OwnResponse(WireResponse):
    """An answer of the server itself (HTTP layer, health while loading): the app did not see the request."""


Handler = Callable[[WireRequest], Awaitable[WireResponse]]


class Front:
    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        cors: list[tuple[str, str]],
        on_close: Callable[[], None] | None = None,
        on_done: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.handler = handler
        self.on_close = on_close
        self.on_done = on_done
        self.limits = limits
        self.cors = cors
        self.open = 0
        self.in_flight = 0
        self.closing = False
        self._idle: dict[asyncio.StreamWriter, asyncio.StreamReader] = {}  # kept-alive, between requests

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            if self.open > self.limits.max_connections:
                await self.send_error(
                    writer, None, 503, "too many open connections; retry in a moment", Exchange(str(peer[0]))
                )
                return
            await self._serve(reader, writer, peer)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("the front failed on a connection")
        finally:
            self.open -= 1
            self._idle.pop(writer, None)
            writer.close()
            if self.on_close is not None:
                self.on_close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        local = writer.get_extra_info("sockname") or ("", 0)
        first = True
        while True:
            if not first:
                self._idle[writer] = reader
            exchange = Exchange(str(peer[0]))
            try:
                request = await self._read_head(conn, reader, first)
                if request is None:
                    return
                self._idle.pop(writer, None)
                received = exchange.started = time.monotonic()
                exchange.identify(request.method, request.target, request.headers)
                body = await self._read_body(conn, reader, writer, request)
            except ClientError as error:
                await self.send_error(writer, conn, error.status, error.message, exchange)
                return
            except h11.RemoteProtocolError as error:
                status = error.error_status_hint if error.error_status_hint >= 400 else 400
                message = "the request headers are too large" if status == 431 else f"malformed HTTP request: {error}"
                await self.send_error(writer, conn, status, message, exchange)
                return
            first = False
            self.in_flight += 1
            try:
                headers = [
                    (n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers if n != b"x-request-id"
                ]
                headers.append(("x-request-id", exchange.request_id))
                wire = WireRequest(
                    exchange.method,
                    request.target.decode("latin-1"),
                    headers,
                    body,
                    (str(peer[0]), int(peer[1])),
                    (str(local[0]), int(local[1])),
                    request.http_version.decode("ascii"),
                    received,
                )
                response = await self.handler(wire)
                if not await self._send(writer, conn, response, exchange, head=request.method == b"HEAD"):
                    return
            finally:
                self.in_flight -= 1
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE or self.closing:
                return
            conn.start_next_cycle()

    async def _read_head(self, conn: h11.Connection, reader: asyncio.StreamReader, first: bool) -> h11.Request | None:
        """The next request's head; None when the client closed or idled out between requests."""
        deadline = time.monotonic() + self.limits.header_timeout
        idle_until = None if first else time.monotonic() + self.limits.keepalive_timeout
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                if event.http_version not in (b"1.0", b"1.1"):
                    raise ClientError(505, f"HTTP version {event.http_version.decode()} is not supported")
                if len(event.target) > MAX_REQUEST_LINE:
                    raise ClientError(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")
                self._check_headers(event.headers)
                return event
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            started = conn.their_state is not h11.IDLE or bool(conn.trailing_data[0])
            if idle_until is not None and not started:
                limit = idle_until
            else:
                limit, idle_until = deadline, None
            data = await read_until(reader, limit)
            if data is None:
                if started or first:
                    raise ClientError(
                        408, f"the request headers did not arrive within {self.limits.header_timeout:g} s"
                    )
                return None  # a kept-alive connection that sent nothing more
            conn.receive_data(data)
            pending = conn.trailing_data[0]
            if conn.their_state is h11.IDLE and len(pending) > MAX_REQUEST_LINE and b"\n" not in pending:
                raise ClientError(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")

    async def _read_body(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: h11.Request
    ) -> bytes:
        length = dict(request.headers).get(b"content-length")
        if length is not None and int(length) > self.limits.max_body_bytes:
            raise ClientError(413, f"the upload is larger than the limit of {self.limits.upload_limit} bytes")
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        chunks: list[bytes] = []
        size = 0
        started = time.monotonic()
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.limits.max_body_bytes:
                    raise ClientError(413, f"the upload is larger than the limit of {self.limits.upload_limit} bytes")
                chunks.append(bytes(event.data))
                continue
            if isinstance(event, h11.EndOfMessage):
                self._check_headers(event.headers)  # the trailer of a chunked body
                return b"".join(chunks)
            if isinstance(event, h11.ConnectionClosed):
                raise ClientError(400, "the connection closed before the request body was complete")
            # Allowed: the first body_timeout seconds, then min_body_rate for all that came so far and more.
            allowed = self.limits.body_timeout + (size + RATE_SLACK) / self.limits.min_body_rate
            data = await read_until(reader, started + allowed)
            if data is None:
                raise ClientError(
                    408,
                    f"the request body arrived too slowly (at least "
                    f"{self.limits.min_body_rate:g} bytes/s after {self.limits.body_timeout:g} s)",
                )
            if not data:
                raise ClientError(400, "the connection closed before the request body was complete")
            conn.receive_data(data)

    def _check_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        if sum(len(name) + len(value) + 4 for name, value in headers) > self.limits.max_header_bytes:
            raise ClientError(431, f"the request headers are larger than {self.limits.max_header_bytes} bytes")

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        conn: h11.Connection,
        response: WireResponse,
        exchange: Exchange,
        head: bool = False,
    ) -> bool:
        exchange.request_id = exchange.request_id or uuid.uuid4().hex
        headers = [
            (name, value) for name, value in response.headers if name.lower() not in ("content-length", "x-request-id")
        ]
        headers += [("Content-Length", str(len(response.body))), ("X-Request-ID", exchange.request_id)]
        exchange.status, exchange.sent = response.status, 0 if head else len(response.body)
        exchange.by_front = isinstance(response, OwnResponse)
        if self.closing:
            headers.append(("Connection", "close"))
        try:
            data = conn.send(
                h11.Response(status_code=response.status, reason=response.reason.encode("latin-1"), headers=headers)
            )
            if not head:
                data += conn.send(h11.Data(data=response.body))
            data += conn.send(h11.EndOfMessage())
            writer.write(data)
            async with asyncio.timeout(self.limits.send_timeout):
                await writer.drain()
        except h11.LocalProtocolError:
            log.exception("could not send a response")
            return False
        except TimeoutError:
            return False  # the client does not read its answer
        finally:
            exchange.seconds = time.monotonic() - exchange.started
            if self.on_done is not None:
                self.on_done(exchange)
        return True

    async def send_error(
        self, writer: asyncio.StreamWriter, conn: h11.Connection | None, status: int, message: str, exchange: Exchange
    ) -> None:
        body = json.dumps({"error": message}, separators=(",", ":")).encode() + b"\n"
        if conn is None or conn.our_state is h11.IDLE:  # no request head was parsed: answer as to one
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(b"GET / HTTP/1.1\r\nHost: -\r\n\r\n")
            conn.next_event()
        if conn.our_state is not h11.SEND_RESPONSE:
            return
        response = OwnResponse(
            status, "", [("Content-Type", "application/json"), *self.cors, ("Connection", "close")], body
        )
        await self._send(writer, conn, response, exchange)

    def close_idle(self) -> None:
        """At shutdown: close kept-alive connections that are between requests and have sent nothing more.

        A new connection is always answered once (its request is on its way), and one whose next request
        is already waiting to be read is left open: both get their answer with ``Connection: close``.
        """
        self.closing = True
        for writer, reader in list(self._idle.items()):
            if not pending(reader, writer):
                writer.close()
