"""The production server: this process accepts connections and hands each to a worker process (:mod:`.pool`).

The port is bound first (a port in use is one clear error before anything loads).  A new connection
goes, as a file descriptor, to the ready worker holding the fewest; the worker's own event-driven
front reads and answers its requests (:mod:`.workerproc`, :mod:`.front`), so the app's bytes never
pass through this process.  While no worker is ready, or when ``max_connections`` are open, this
process answers by itself (its own front, one request, then ``Connection: close``): ``/v2/health/live``
200, ``/v2/health/ready`` 503, anything else 503.  SIGTERM or SIGINT: stop accepting, let the workers
finish the requests they have within ``graceful_timeout``, exit 0.

Each answer, once sent, makes one access-log line (:mod:`.accesslog`), in whichever process sent it;
given ``metrics``, the answers the app did not give (health while loading, HTTP-layer errors) are
counted there too (route: the health path, else ``front``); the app counts its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import logging
import signal
import socket
from collections.abc import Callable
from typing import Protocol

from modelhub.errors import ConfigError
from modelhub.settings import Settings

from .accesslog import Exchange
from .front import Front, OwnResponse
from .limits import Limits
from .pool import Pool
from .wire import WireRequest, WireResponse
from .workerproc import WorkerSpec, WSGIApp

log = logging.getLogger("modelhub.server")

HARD_LIMIT_MARGIN = 5.0  # seconds beyond request_timeout before a worker still busy is killed and replaced
HEALTH = ("/v2/health/live", "/v2/health/ready")
WORKER_CONNECTIONS = 1 << 30  # a worker's own front never refuses: this process counts connections


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
        if error.errno == errno.EACCES and port < 1024:  # e.g. a container run with no-new-privileges
            raise ConfigError(
                f"cannot listen on {host}:{port}: {error.strerror} (a port below 1024 needs "
                f"CAP_NET_BIND_SERVICE; choose another with MODELHUB_PORT or --port)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def limits_of(settings: Settings) -> Limits:
    return Limits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        min_body_rate=settings.min_body_rate,
        keepalive_timeout=settings.keepalive_timeout,
        max_connections=settings.max_connections,
        max_body_bytes=settings.max_upload_bytes + 64 * 1024,  # multipart headers around the file
        upload_limit=settings.max_upload_bytes,
    )


class FrontMetrics(Protocol):
    """What the server counts itself (:class:`modelhubapi.metrics.FrontMetrics`), and the pool's hooks for it."""

    def observe(self, route: str, method: str, status: int, seconds: float) -> None: ...
    def after_fork(self) -> None: ...
    def process_dead(self, pid: int) -> None: ...


def serve_app(
    factory: Callable[[], WSGIApp],
    settings: Settings,
    sock: socket.socket | None = None,
    cors: list[tuple[str, str]] | None = None,
    metrics: FrontMetrics | None = None,
) -> None:
    """Serve ``factory()``'s WSGI app (built in each worker) until SIGTERM/SIGINT.

    ``cors``: the app's CORS headers, which the server's own answers (HTTP-layer errors) carry too.
    """
    asyncio.run(_serve(sock or bind(settings.host, settings.port), factory, settings, cors or [], metrics))


async def _serve(
    sock: socket.socket,
    factory: Callable[[], WSGIApp],
    settings: Settings,
    cors: list[tuple[str, str]],
    metrics: FrontMetrics | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    limits = limits_of(settings)
    done = _on_done(settings, metrics)
    spec = WorkerSpec(
        factory, dataclasses.replace(limits, max_connections=WORKER_CONNECTIONS), cors, settings.graceful_timeout, done
    )
    pool = Pool(
        settings.effective_workers(),
        spec,
        settings.request_timeout + HARD_LIMIT_MARGIN,
        on_fork=metrics.after_fork if metrics else None,
        on_exit=metrics.process_dead if metrics else None,
    )
    own = Front(lambda request: _unready(request, pool, cors), limits, cors, on_done=done)
    own.closing = True  # one request per connection here, then the client reconnects to a worker
    await pool.start()
    accepting = loop.create_task(_accept(sock, pool, own, settings.max_connections))
    log.info(
        "modelhub server listening on http://%s:%s with %d worker process(es)", settings.host, settings.port, pool.size
    )
    await stop.wait()
    accepting.cancel()
    sock.close()
    log.info("stopping: no new connections; %d open in the workers", pool.open)
    await pool.stop(timeout=settings.graceful_timeout + 0.5)
    log.info("stopped (%d worker(s) lost with connections open)", pool.lost)


async def _accept(sock: socket.socket, pool: Pool, own: Front, max_connections: int) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            conn, _address = await loop.sock_accept(sock)
        except OSError as error:  # e.g. out of file descriptors: wait, do not spin
            log.error("accept failed: %s", error)
            await asyncio.sleep(0.1)
            continue
        if pool.open + own.open < max_connections and pool.give(conn):
            conn.close()  # the worker has its own descriptor of it now
            continue
        full = pool.open + own.open >= max_connections
        loop.create_task(own.adopt(conn, refuse="too many open connections; retry in a moment" if full else None))


def _on_done(settings: Settings, metrics: FrontMetrics | None) -> Callable[[Exchange], None]:
    """What runs when an answer is sent: the access log line, and the count of answers the app did not give."""

    def done(exchange: Exchange) -> None:
        if settings.access_log:
            exchange.log()
        if metrics is not None and exchange.by_front:
            route = exchange.path if exchange.path in HEALTH else "front"
            metrics.observe(route, exchange.method, exchange.status, exchange.seconds)

    return done


def _unready(request: WireRequest, pool: Pool, cors: list[tuple[str, str]]) -> WireResponse:
    """The answer while no worker is ready: health from the pool's state, 503 for the rest."""
    path = request.target.split("?", 1)[0]
    if path == HEALTH[0]:
        return _json(200, {"live": True}, cors)
    body: dict[str, object] = (
        {"ready": False} if path == HEALTH[1] else {"error": "the model is still loading; retry in a moment"}
    )
    if pool.load_error and path == HEALTH[1]:
        body["error"] = "no worker could load the model; the server log says why"
    return _json(503, body, cors)


def _json(status: int, value: object, cors: list[tuple[str, str]]) -> WireResponse:
    return OwnResponse(
        status,
        "",
        [("Content-Type", "application/json"), *cors],
        json.dumps(value, separators=(",", ":")).encode() + b"\n",
    )
