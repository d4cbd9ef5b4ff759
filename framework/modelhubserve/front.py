"""The event-driven HTTP/1.1 front of each worker process: reads whole requests under deadlines, then answers.

Why our own: gunicorn's threaded worker reads a started request with no deadline, so 8 connections
that send one byte stop every worker; granian closes slow headers but has no body deadline;
waitress is one process; gevent blocks on the CPU-bound model (issue #11's measurements).  Here each
worker's asyncio loop holds its connections (a slow one costs a few kilobytes, never a thread), each an
asyncio protocol (:mod:`.connection`) that parses with httptools (llhttp, Node.js's HTTP parser, as
uvicorn uses it), and only a complete request reaches the app, which then runs in the loop itself (the
process is one CPU of the pool; a request hands nothing to another thread or process).  Protocol
callbacks and httptools, rather than asyncio streams and h11, because they cost the front about
0.04 ms of CPU per upload instead of 0.25 ms (``bench/RESULTS.md``):

- the request line and headers must arrive within ``header_timeout`` (else 408), the body at
  ``min_body_rate`` bytes/s after its first ``body_timeout`` seconds (else 408), and a kept-alive
  connection may idle ``keepalive_timeout`` seconds between requests (then it is closed); an answer
  the client does not read within ``send_timeout`` drops the connection;
- at most ``max_connections`` connections are open (the main process counts them over all workers): more
  are answered 503 at once;
- every answer of the HTTP layer itself (400, 408, 413, 414, 431, 503, 505) is JSON with CORS headers;
- every answer carries the request's ``X-Request-ID`` and, once sent, goes to ``on_done`` (access log, metrics).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import cast

from .accesslog import Exchange
from .connection import Connection
from .limits import Limits
from .wire import OwnResponse, WireRequest, WireResponse

Handler = Callable[[WireRequest], WireResponse]

__all__ = ["Front", "Handler", "OwnResponse"]


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
        self.closing = False  # every answer closes its connection
        self.connections: set[Connection] = set()

    async def adopt(self, sock: socket.socket, refuse: str | None = None) -> None:
        """Serve an accepted connection until it closes; ``refuse``: answer it 503 with that message at once."""
        loop = asyncio.get_running_loop()
        try:
            _transport, protocol = await loop.connect_accepted_socket(lambda: Connection(self, refuse), sock=sock)
        except OSError:
            sock.close()
            if self.on_close is not None:
                self.on_close()
            return
        await cast(Connection, protocol).closed

    def error_response(self, status: int, message: str) -> OwnResponse:
        body = json.dumps({"error": message}, separators=(",", ":")).encode() + b"\n"
        return OwnResponse(status, "", [("Content-Type", "application/json"), *self.cors], body)

    def close_idle(self) -> None:
        """At shutdown: close kept-alive connections that are between requests and have sent nothing more.

        A new connection is always answered once (its request is on its way), and one whose next request
        is already waiting to be read is left open: both get their answer with ``Connection: close``.
        """
        self.closing = True
        for connection in list(self.connections):
            if connection.between_requests() and not _waiting(connection.transport):
                connection.close()


def _waiting(transport: asyncio.BaseTransport | None) -> bool:
    """Bytes of a next request wait in the connection's socket, not read yet."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    try:  # asyncio's socket wrapper has no recv: peek through a duplicate of the descriptor
        with socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM) as dup:
            return bool(dup.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # BlockingIOError: nothing there
        return False
