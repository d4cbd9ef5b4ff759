"""The production server: the event-driven front (:mod:`.front`) in this process, the workers (:mod:`.pool`) forked.

The port is bound first (a port in use is one clear error before anything loads).  The front answers
the health routes itself, from the state of the pool, so probes are answered while every worker is busy
and readiness is the same whichever worker a client would reach: ``/v2/health/ready`` is 200 while at
least one worker has its model loaded.  SIGTERM or SIGINT: stop accepting, let the requests in flight
finish within ``graceful_timeout``, close idle connections, stop the workers, exit 0.

Each request's answer, once sent, makes one access-log line (:mod:`.accesslog`); given ``metrics``, the
answers of this process itself (health probes, HTTP-layer errors, the pool's 503/504) are counted here
(route: the health path, else ``front``), a worker's answers by the worker's Flask app.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Protocol

import orjson

from modelhub.errors import ConfigError
from modelhub.settings import Settings

from .accesslog import Exchange
from .front import Front, Limits, OwnResponse
from .pool import Pool, PoolError
from .wire import WireRequest, WireResponse
from .workerproc import WSGIApp

log = logging.getLogger("modelhub.server")

HARD_LIMIT_MARGIN = 5.0  # seconds beyond request_timeout before a worker still busy is killed and replaced
HEALTH = ("/v2/health/live", "/v2/health/ready")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port in use or an address that cannot be bound is a :class:`ConfigError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use (on {host})") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def cors_headers(settings: Settings) -> list[tuple[str, str]]:
    if not settings.allow_origin:
        return []
    headers = [("Access-Control-Allow-Origin", settings.allow_origin),
               ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"), ("Access-Control-Allow-Headers", "Content-Type")]
    return headers + ([("Vary", "Origin")] if settings.allow_origin != "*" else [])


def limits_of(settings: Settings) -> Limits:
    return Limits(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                  min_body_rate=settings.min_body_rate, keepalive_timeout=settings.keepalive_timeout,
                  max_connections=settings.max_connections,
                  max_body_bytes=settings.max_upload_bytes + 64 * 1024,  # multipart headers around the file
                  upload_limit=settings.max_upload_bytes)


class FrontMetrics(Protocol):
    """What the front counts (:class:`modelhubapi.metrics.FrontMetrics`), and the pool's hooks for it."""

    def observe(self, route: str, method: str, status: int, seconds: float) -> None: ...
    def after_fork(self) -> None: ...
    def process_dead(self, pid: int) -> None: ...


def serve_app(factory: Callable[[], WSGIApp], settings: Settings, sock: socket.socket | None = None,
              metrics: FrontMetrics | None = None) -> None:
    """Serve ``factory()``'s WSGI app (built in each worker) until SIGTERM/SIGINT."""
    asyncio.run(_serve(sock or bind(settings.host, settings.port), factory, settings, metrics))


async def _serve(sock: socket.socket, factory: Callable[[], WSGIApp], settings: Settings,
                 metrics: FrontMetrics | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = Pool(settings.effective_workers(), factory, on_fork=metrics.after_fork if metrics else None,
                on_exit=metrics.process_dead if metrics else None)
    on_done = _on_done(settings, metrics)
    cors = cors_headers(settings)
    front = Front(lambda request: _handle(request, pool, settings, cors), limits_of(settings), cors, on_done)
    await pool.start()
    server = await asyncio.start_server(front.connection, sock=sock, limit=2**16)
    log.info("modelhub server listening on http://%s:%s with %d worker process(es)", settings.host, settings.port,
             pool.size)
    await stop.wait()
    log.info("stopping: no new connections; %d request(s) in flight", front.in_flight)
    server.close()
    front.close_idle()
    deadline = time.monotonic() + settings.graceful_timeout
    while front.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    front.close_idle()
    await pool.stop(timeout=5.0)
    log.info("stopped (%d request(s) lost to workers that died)", pool.lost_requests)


def _on_done(settings: Settings, metrics: FrontMetrics | None) -> Callable[[Exchange], None]:
    """What runs when an answer is sent: the access log line, and the count of the front's own answers."""

    def done(exchange: Exchange) -> None:
        if settings.access_log:
            exchange.log()
        if metrics is not None and exchange.by_front:
            route = exchange.path if exchange.path in HEALTH else "front"
            metrics.observe(route, exchange.method, exchange.status, exchange.seconds)

    return done


async def _handle(request: WireRequest, pool: Pool, settings: Settings, cors: list[tuple[str, str]]) -> WireResponse:
    path = request.target.split("?", 1)[0]
    if path in HEALTH and request.method in ("GET", "HEAD"):
        if path == HEALTH[0]:
            return _json(200, {"live": True}, cors)
        if pool.ready:
            return _json(200, {"ready": True}, cors)
        body: dict[str, object] = {"ready": False}
        if pool.load_error:
            body["error"] = "no worker could load the model; the server log says why"
        return _json(503, body, cors)
    try:
        return await pool.call(request, wait=settings.request_timeout,
                               limit=settings.request_timeout + HARD_LIMIT_MARGIN)
    except PoolError as error:
        return _json(error.status, {"error": error.message}, cors)


def _json(status: int, value: object, cors: list[tuple[str, str]]) -> WireResponse:
    return OwnResponse(status, "", [("Content-Type", "application/json"), *cors], orjson.dumps(value) + b"\n")
