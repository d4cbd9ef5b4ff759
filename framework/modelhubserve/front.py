"""The event-driven HTTP/1.1 front: reads whole requests under deadlines, hands them to the worker pool.

Why our own: gunicorn's threaded worker reads a started request with no deadline, so 8 connections
that send one byte stop every worker; granian closes slow headers but has no body deadline;
waitress is one process; gevent blocks on the CPU-bound model (issue #11's measurements).  Here one
asyncio loop holds every connection (a slow one costs a few kilobytes, never a thread), parses with
h11 (a maintained HTTP/1.1 parser), and only a complete request reaches a worker:

- the request line and headers must arrive within ``header_timeout`` (else 408), the body at
  ``min_body_rate`` bytes/s after its first ``body_timeout`` seconds (else 408), and a kept-alive
  connection may idle ``keepalive_timeout`` seconds between requests (then it is closed);
- at most ``max_connections`` connections are open: more are answered 503 at once;
- every answer of the HTTP layer itself (400, 408, 413, 414, 431, 503, 505) is JSON with CORS headers;
- every answer carries the request's ``X-Request-ID`` and, once sent, goes to ``on_done`` (access log, metrics).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import h11
import orjson

from .accesslog import Exchange
from .wire import WireRequest, WireResponse

log = logging.getLogger("modelhub.front")

READ_SIZE = 65536
MAX_REQUEST_LINE = 8192  # bytes; a longer request line (URL) is answered 414


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    min_body_rate: float = 16384.0  # bytes/s, after body_timeout
    keepalive_timeout: float = 5.0
    send_timeout: float = 30.0
    max_connections: int = 1000
    max_header_bytes: int = 16384
    max_body_bytes: int = 20 * 1024 * 1024 + 65536  # the upload limit plus room for multipart headers
    upload_limit: int = 20 * 1024 * 1024  # the limit that 413 answers name


class ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OwnResponse(WireResponse):
    """An answer of the server process itself: no worker saw the request."""


Handler = Callable[[WireRequest], Awaitable[WireResponse]]


class Front:
    def __init__(self, handler: Handler, limits: Limits, cors: list[tuple[str, str]],
                 on_done: Callable[[Exchange], None] | None = None) -> None:
        self.handler = handler
        self.on_done = on_done
        self.limits = limits
        self.cors = cors
        self.open = 0
        self.in_flight = 0
        self.closing = False
        self._idle: set[asyncio.StreamWriter] = set()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            if self.open > self.limits.max_connections:
                await self._send_error(writer, None, 503, "too many open connections; retry in a moment",
                                       Exchange(str(peer[0])))
                return
            await self._serve(reader, writer, peer)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("the front failed on a connection")
        finally:
            self.open -= 1
            self._idle.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        local = writer.get_extra_info("sockname") or ("", 0)
        first = True
        while not self.closing or first:
            self._idle.add(writer)
            exchange = Exchange(str(peer[0]))
            try:
                request = await self._read_head(conn, reader, first)
                if request is None:
                    return
                self._idle.discard(writer)
                received = exchange.started = time.monotonic()
                exchange.identify(request.method, request.target, request.headers)
                body = await self._read_body(conn, reader, writer, request)
            except ClientError as error:
                await self._send_error(writer, conn, error.status, error.message, exchange)
                return
            except h11.RemoteProtocolError as error:
                status = error.error_status_hint if error.error_status_hint >= 400 else 400
                message = "the request headers are too large" if status == 431 else f"malformed HTTP request: {error}"
                await self._send_error(writer, conn, status, message, exchange)
                return
            first = False
            self.in_flight += 1
            try:
                headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers
                           if n != b"x-request-id"]
                headers.append(("x-request-id", exchange.request_id))
                wire = WireRequest(exchange.method, request.target.decode("latin-1"), headers, body,
                                   (str(peer[0]), int(peer[1])), (str(local[0]), int(local[1])),
                                   request.http_version.decode("ascii"), received)
                response = await self.handler(wire)
                if not await self._send(writer, conn, response, exchange, head=request.method == b"HEAD"):
                    return
            finally:
                self.in_flight -= 1
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
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
            data = await self._read(reader, limit)
            if data is None:
                if started or first:
                    raise ClientError(408, f"the request headers did not arrive within "
                                           f"{self.limits.header_timeout:g} s")
                return None  # a kept-alive connection that sent nothing more
            conn.receive_data(data)
            pending = conn.trailing_data[0]
            if conn.their_state is h11.IDLE and len(pending) > MAX_REQUEST_LINE and b"\n" not in pending:
                raise ClientError(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")

    async def _read_body(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         request: h11.Request) -> bytes:
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
                    raise ClientError(413, f"the upload is larger than the limit of "
                                           f"{self.limits.upload_limit} bytes")
                chunks.append(bytes(event.data))
                continue
            if isinstance(event, h11.EndOfMessage):
                self._check_headers(event.headers)  # the trailer of a chunked body
                return b"".join(chunks)
            if isinstance(event, h11.ConnectionClosed):
                raise ClientError(400, "the connection closed before the request body was complete")
            # Allowed: the first body_timeout seconds, then min_body_rate for all that came so far and more.
            allowed = self.limits.body_timeout + (size + READ_SIZE) / self.limits.min_body_rate
            data = await self._read(reader, started + allowed)
            if data is None:
                raise ClientError(408, f"the request body arrived too slowly (at least "
                                       f"{self.limits.min_body_rate:g} bytes/s after {self.limits.body_timeout:g} s)")
            if not data:
                raise ClientError(400, "the connection closed before the request body was complete")
            conn.receive_data(data)

    def _check_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        if sum(len(name) + len(value) + 4 for name, value in headers) > self.limits.max_header_bytes:
            raise ClientError(431, f"the request headers are larger than {self.limits.max_header_bytes} bytes")

    @staticmethod
    async def _read(reader: asyncio.StreamReader, until: float) -> bytes | None:
        """Bytes from the client (b"" at its end of stream), or None when ``until`` passes first."""
        try:
            return await asyncio.wait_for(reader.read(READ_SIZE), max(0.0, until - time.monotonic()))
        except TimeoutError:
            return None

    async def _send(self, writer: asyncio.StreamWriter, conn: h11.Connection, response: WireResponse,
                    exchange: Exchange, head: bool = False) -> bool:
        exchange.request_id = exchange.request_id or uuid.uuid4().hex
        headers = [(name, value) for name, value in response.headers
                   if name.lower() not in ("content-length", "x-request-id")]
        headers += [("Content-Length", str(len(response.body))), ("X-Request-ID", exchange.request_id)]
        exchange.status, exchange.sent = response.status, 0 if head else len(response.body)
        exchange.by_front = isinstance(response, OwnResponse)
        if self.closing:
            headers.append(("Connection", "close"))
        try:
            data = conn.send(h11.Response(status_code=response.status, reason=response.reason.encode("latin-1"),
                                          headers=headers))
            if not head:
                data += conn.send(h11.Data(data=response.body))
            data += conn.send(h11.EndOfMessage())
            writer.write(data)
            await asyncio.wait_for(writer.drain(), self.limits.send_timeout)
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

    async def _send_error(self, writer: asyncio.StreamWriter, conn: h11.Connection | None, status: int,
                          message: str, exchange: Exchange) -> None:
        body = orjson.dumps({"error": message}) + b"\n"
        if conn is None or conn.our_state is h11.IDLE:  # no request head was parsed: answer as to one
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(b"GET / HTTP/1.1\r\nHost: -\r\n\r\n")
            conn.next_event()
        if conn.our_state is not h11.SEND_RESPONSE:
            return
        response = OwnResponse(status, "", [("Content-Type", "application/json"), *self.cors,
                                            ("Connection", "close")], body)
        await self._send(writer, conn, response, exchange)

    def close_idle(self) -> None:
        """At shutdown: close connections that are between requests."""
        self.closing = True
        for writer in list(self._idle):
            writer.close()
