"""Reading requests off a connection: httptools' callbacks, checked against the front's limits as bytes arrive.

Each complete request becomes a :class:`Parsed` in ``complete``; a limit passed or malformed bytes
become the :class:`~.limits.ClientError` that :meth:`RequestReader.feed` returns.  httptools gathers a
header line whole before its callback, so the bytes fed while a head is incomplete are bounded here too;
after the head, chunk framing and trailer bytes are bounded against the body's size.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import httptools

from .accesslog import Exchange
from .limits import MAX_REQUEST_LINE, ClientError, Limits
from .wire import WireRequest, wire_request


class Parsed(NamedTuple):
    request: WireRequest
    exchange: Exchange
    head: bool  # a HEAD request: the answer goes without its body
    keep_alive: bool  # HTTP/1.1 without ``Connection: close``


class RequestReader:
    def __init__(self, limits: Limits, send_continue: Callable[[], None]) -> None:
        self.limits = limits
        self.send_continue = send_continue
        self.parser = httptools.HttpRequestParser(self)
        self.complete: deque[Parsed] = deque()
        self.client = ""
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self.upgrade = False  # an Upgrade or CONNECT request: answered as a plain one, then the connection closes
        self.new_message(reading=False)

    def new_message(self, reading: bool = True) -> None:
        self.reading = reading  # a request has begun (a byte of it was parsed) and is not complete
        self.head_done = False
        self.exchange = Exchange(self.client)
        self.url: list[bytes] = []
        self.url_size = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.head_fed = 0  # bytes fed while the head was incomplete
        self.size = 0
        self.body: list[bytes] = []
        self.body_fed = 0  # bytes fed while reading the body (chunk framing and trailer included)
        self.body_start = 0.0

    def feed(self, data: bytes) -> ClientError | None:
        """Parse ``data``: complete requests go to ``complete``; the error that stops the connection, if any."""
        if not self.reading:
            self.new_message()
        message, in_head = self.exchange, not self.head_done
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.upgrade = True
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__  # what a callback raised
            return cause if isinstance(cause, ClientError) else self._parse_error(error)
        except httptools.HttpParserError as error:
            return self._parse_error(error)
        if not self.reading or self.exchange is not message:
            return None  # complete, or a next request began in ``data``: its parser holds less than ``data``
        if in_head and not self.head_done:
            self.head_fed += len(data)
            if self.head_fed > self.limits.max_header_bytes + MAX_REQUEST_LINE:
                return self._too_large_head()
        elif not in_head:  # all of ``data`` was body: chunk framing and trailer bytes are bounded
            self.body_fed += len(data)
            if self.body_fed - self.size > self.limits.max_header_bytes + 8 * self.size:
                return ClientError(431, "the chunk framing or trailer of the request body is too large")
        return None

    # -- httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        if not self.reading:
            self.new_message()

    def on_url(self, url: bytes) -> None:
        self.url_size += len(url)
        if self.url_size > MAX_REQUEST_LINE:
            raise ClientError(414, f"the request line is longer than {MAX_REQUEST_LINE} bytes")
        self.url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.limits.max_header_bytes:
            raise self._too_large_head()
        if not self.head_done:  # trailer fields of a chunked body count against the limit, and are dropped
            self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):
            raise ClientError(505, f"HTTP version {version} is not supported")
        if version == "1.1" and not any(name == b"host" for name, _ in self.headers):
            raise ClientError(400, "malformed HTTP request: missing Host header")
        self.head_done = True
        self.body_start = self.exchange.started = time.monotonic()
        self.exchange.identify(self.parser.get_method(), b"".join(self.url), self.headers)
        length = next((value for name, value in self.headers if name == b"content-length"), None)
        if length is not None and int(length) > self.limits.max_body_bytes:
            raise self._too_large_body()
        if version == "1.1" and any(n == b"expect" and v.lower() == b"100-continue" for n, v in self.headers):
            self.send_continue()

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.limits.max_body_bytes:
            raise self._too_large_body()
        self.body.append(body)

    def on_message_complete(self) -> None:
        parser, method, version = self.parser, self.parser.get_method(), self.parser.get_http_version()
        request = wire_request(
            method,
            b"".join(self.url),
            self.headers,
            b"".join(self.body),
            self.peer,
            self.local,
            self.exchange.request_id,
            self.body_start,
            version,
        )
        keep_alive = version == "1.1" and parser.should_keep_alive()  # HTTP/1.0: one request per connection
        self.complete.append(Parsed(request, self.exchange, method == b"HEAD", keep_alive))
        self.reading = False

    # -- errors -------------------------------------------------------------------------
    def _too_large_head(self) -> ClientError:
        return ClientError(431, f"the request headers are larger than {self.limits.max_header_bytes} bytes")

    def _too_large_body(self) -> ClientError:
        return ClientError(413, f"the upload is larger than the limit of {self.limits.upload_limit} bytes")

    def _parse_error(self, error: httptools.HttpParserError) -> ClientError:
        version = self.parser.get_http_version()
        if "version" in str(error).lower() and version not in ("1.0", "1.1"):
            return ClientError(505, f"HTTP version {version} is not supported")
        return ClientError(400, f"malformed HTTP request: {error}")
