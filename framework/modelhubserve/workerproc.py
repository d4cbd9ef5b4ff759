"""A worker process: builds the WSGI app (loading the model), then serves the connections the main process hands it.

Each connection arrives as a file descriptor over the control socket; the worker's own event-driven
front (:mod:`.front`) reads every request whole before the app sees it, so a slow client never holds
the process, and runs the app in the loop: one complete request at a time, no hand-over to another
thread or process.  Messages to the main process: ``ready`` / ``failed:<why>`` once, ``closed`` per
connection, ``beat`` every second (a worker that stops beating is stuck and gets replaced), ``retire``
(an inference it could not stop still holds its slot: it takes no new connections and exits).
The environ follows PEP 3333; ``SCRIPT_NAME`` is always empty (never taken from a header).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from modelhub import slots

from .accesslog import Exchange, handling
from .front import Front
from .limits import Limits
from .wire import WireRequest, WireResponse

log = logging.getLogger("modelhub.worker")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
INTERNAL = b'{"error":"internal server error; the server log has the details"}\n'
BEAT = 1.0  # seconds between heartbeats


@dataclass(frozen=True)
class WorkerSpec:
    """What each worker is made of: the app, its front's limits and CORS headers, its graceful stop, and
    ``on_done`` for every answer its front sends (access log, metrics)."""

    factory: Callable[[], WSGIApp]
    limits: Limits
    cors: list[tuple[str, str]]
    graceful: float
    on_done: Callable[[Exchange], None] | None = None


def run(control: socket.socket, spec: WorkerSpec) -> None:
    """The body of a forked worker; never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when workers stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        app = spec.factory()
    except Exception as error:
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        log.error("worker %d could not load the model: %s", os.getpid(), message)
        _tell(control, b"failed:" + message.encode("utf-8", "replace")[:4000])
        os._exit(3)
    _tell(control, b"ready")
    try:
        asyncio.run(_serve(control, app, spec))
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        os._exit(0)


def _tell(control: socket.socket, message: bytes) -> None:
    try:
        control.send(message)
    except OSError:
        os._exit(4)  # the main process is gone


async def _serve(control: socket.socket, app: WSGIApp, spec: WorkerSpec) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def handle(request: WireRequest) -> WireResponse:
        with handling(next((value for name, value in request.headers if name == "x-request-id"), None)):
            response = answer(app, request)  # every log line written meanwhile names the request (accesslog)
        if slots.abandoned() and not stop.is_set():
            log.error("worker %d still runs a model call it could not stop: it retires", os.getpid())
            _tell(control, b"retire")
            stop.set()
        return response

    front = Front(handle, spec.limits, spec.cors, on_close=lambda: _tell(control, b"closed"), on_done=spec.on_done)
    connections: set[asyncio.Task[None]] = set()  # from the moment a descriptor arrives

    def on_control() -> None:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 64, 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        if not message and not fds:  # the main process is gone
            stop.set()
            return
        for fd in fds:
            task = loop.create_task(front.adopt(socket.socket(fileno=fd)))
            connections.add(task)
            task.add_done_callback(connections.discard)
        if message.startswith(b"stop"):
            stop.set()

    async def beat() -> None:
        while not stop.is_set():
            _tell(control, b"beat")
            await asyncio.sleep(BEAT)

    control.setblocking(False)
    loop.add_reader(control.fileno(), on_control)
    beating = loop.create_task(beat())
    await stop.wait()
    loop.remove_reader(control.fileno())
    on_control()  # a descriptor sent before "stop" is served too (the main process sends none after it)
    deadline = time.monotonic() + spec.graceful
    while connections and time.monotonic() < deadline:
        front.close_idle()
        await asyncio.wait(set(connections), timeout=0.05)
    beating.cancel()
    log.info(
        "worker %d stops with %d connection(s) left, %d open in its front", os.getpid(), len(connections), front.open
    )


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
        "wsgi.input_terminated": True,  # the body is whole and CONTENT_LENGTH long (werkzeug reads it as is)
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "modelhub.received": request.received,
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
