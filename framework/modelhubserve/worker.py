"""The gunicorn worker the server runs: balanced ``gthread`` that keeps serving a busy connection.

gunicorn's threaded worker hands every kept-alive connection back to its main thread after
each response: the request thread defers to the main loop through a pipe, the main thread
registers the socket with its poller, wakes again when the next request arrives and submits
it to the thread pool.  With a client sending request after request, that is a round of
thread switches and system calls per request.  Here the request thread first waits up to
``LINGER`` seconds for the connection's next request and serves it itself, as long as no
other connection's request is waiting for a thread; otherwise, and once the wait expires,
the connection goes back to the main loop exactly as before.
"""

from __future__ import annotations

import select
import threading
from typing import Any

from .balance import BalancedThreadWorker

LINGER = 0.005  # seconds a request thread waits for the next request on its connection


class ServingWorker(BalancedThreadWorker):
    """``BalancedThreadWorker`` whose request threads serve back-to-back requests of a connection."""

    def init_process(self) -> None:
        self._queue_lock = threading.Lock()
        self._queued = 0  # connections submitted to the thread pool and not yet picked up
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        with self._queue_lock:
            self._queued += 1
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        with self._queue_lock:
            self._queued -= 1
        result = super().handle(conn)
        while result is True and self.alive and not self._queued and _next_request_arrives(conn, LINGER):
            result = super().handle(conn)
        return result


def _next_request_arrives(conn: Any, timeout: float) -> bool:
    """Bytes of a next request are already read ahead, or arrive on the socket within ``timeout``."""
    if conn.parser.unreader.buf.getvalue():
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    try:
        return bool(poller.poll(timeout * 1000))
    except OSError:
        return False
