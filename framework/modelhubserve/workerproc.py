"""A worker process: builds the WSGI app (loading the model), then answers the front's requests one at a time.

Requests arrive whole (the front has read every byte of them), so a slow client never holds a worker.
The environ follows PEP 3333; ``SCRIPT_NAME`` is always empty (never taken from a header).
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from modelhub import slots

from .accesslog import handling
from .wire import WireRequest, WireResponse, recv_frame, send_frame

log = logging.getLogger("modelhub.worker")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
INTERNAL = b'{"error":"internal server error; the server log has the details"}\n'


def run(sock: socket.socket, factory: Callable[[], WSGIApp]) -> None:
    """The body of a forked worker; never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front decides when workers stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # only sent while idle
    try:
        app = factory()
    except Exception as error:
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        log.error("worker %d could not load the model: %s", os.getpid(), message)
        _send_quietly(sock, ("failed", message))
        os._exit(3)
    _send_quietly(sock, ("ready", os.getpid()))
    while True:
        try:
            request = recv_frame(sock)
        except (EOFError, OSError):
            os._exit(0)
        with handling(next((value for name, value in request.headers if name == "x-request-id"), None)):
            response = answer(app, request)  # every log line written meanwhile names the request (accesslog)
        response.retire = slots.abandoned() > 0
        send_frame(sock, response)


def _send_quietly(sock: socket.socket, value: Any) -> None:
    try:
        send_frame(sock, value)
    except OSError:
        os._exit(4)


def answer(app: WSGIApp, request: WireRequest) -> WireResponse:
    """Run the WSGI app on one complete request."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return chunks.append

    chunks: list[bytes] = []
    try:
        result = app(environ_of(request), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        code, _, reason = started[0].partition(" ")
        return WireResponse(int(code), reason, list(started[1]), b"".join(chunks))
    except Exception:
        log.exception("the WSGI app failed on %s %s", request.method, request.target)
        return WireResponse(500, "INTERNAL SERVER ERROR", [("Content-Type", "application/json")], INTERNAL)


def environ_of(request: WireRequest) -> dict[str, Any]:
    target = request.target
    if not target.startswith("/"):  # absolute-form (http://host/path) or "*"
        parts = urlsplit(target)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": request.server[0],
        "SERVER_PORT": str(request.server[1]),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "REMOTE_ADDR": request.client[0],
        "REMOTE_PORT": str(request.client[1]),
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "modelhub.received": request.received,  # CLOCK_MONOTONIC: the same clock in every process
    }
    for name, value in request.headers:
        if name in ("content-length", "transfer-encoding") or "_" in name:
            continue  # the body arrives whole, de-chunked; "x_a" would pose as "x-a" (both are HTTP_X_A)
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
