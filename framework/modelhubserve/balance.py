"""Spreading connections evenly over gunicorn's worker processes.

gunicorn's threaded workers all accept from one listening socket, and a kept-alive
connection stays with the worker that accepted it.  When clients connect at the same
moment, one worker often takes most of them: measured with wrk, 16 connections gave
122 requests/s instead of about 230, one core idle while the other had every request.

Like nginx's ``accept_disabled``, a worker here stops accepting while another live worker
holds fewer open connections, so each new connection goes to the least loaded worker; a
worker that still ends up with two or more connections above another closes one after its
response, and the client reconnects to the other.
The counts live in shared memory made by the master before it forks the workers; a
worker whose entry has not been refreshed for ``STALE_AFTER`` seconds (dead, stuck or
gone) is ignored, so a worker never defers to one that cannot accept.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

STALE_AFTER = 3.0  # seconds; the worker loop refreshes its entry at least once a second
RECHECK_INTERVAL = 0.01  # seconds between looks at the table while holding back from accepting
_FIELDS = 3  # per worker: pid, open connections, last refresh (monotonic milliseconds)


class ConnectionTable:
    """Open-connection counts of the workers, in memory shared across ``fork``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values = multiprocessing.get_context("fork").Array("q", size * _FIELDS)  # its own lock

    def _raw(self) -> Any:
        """The shared ``long long`` array itself (reads and writes of one entry need no lock)."""
        return self._values.get_obj()

    def claim(self, pid: int) -> int:
        """An entry for worker ``pid``: a free one, or one whose worker is gone."""
        with self._values.get_lock():
            values = self._raw()
            for index in range(self.size):
                owner = values[index * _FIELDS]
                if owner == 0 or not _alive(owner) or self._stale(values, index):
                    values[index * _FIELDS : (index + 1) * _FIELDS] = [pid, 0, _now_ms()]
                    return index
        return -1  # more workers than entries: this one accepts without balancing

    def publish(self, index: int, connections: int) -> None:
        values = self._raw()
        values[index * _FIELDS + 1] = connections
        values[index * _FIELDS + 2] = _now_ms()

    def release(self, index: int) -> None:
        """Free the entry (lock-free: it is called from a signal handler)."""
        self._raw()[index * _FIELDS] = 0

    def fewest_elsewhere(self, index: int, capacity: int | None = None) -> int | None:
        """The smallest connection count among the other live workers with room for one more.

        None when there is no such worker (this one then accepts whatever its count).
        """
        values = self._raw()
        counts = [
            values[other * _FIELDS + 1]
            for other in range(self.size)
            if other != index and values[other * _FIELDS] != 0 and not self._stale(values, other)
            and (capacity is None or values[other * _FIELDS + 1] < capacity)
        ]
        return min(counts) if counts else None

    @staticmethod
    def _stale(values: Any, index: int) -> bool:
        return _now_ms() - values[index * _FIELDS + 2] > STALE_AFTER * 1000


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_table: ConnectionTable | None = None


def install(workers: int) -> None:
    """Make the shared table; call in the master before gunicorn forks its workers."""
    global _table
    _table = ConnectionTable(size=max(2 * workers, 2))  # room for replacements while old ones exit


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker that accepts only while no other worker has fewer connections."""

    _index = -1

    def init_process(self) -> None:
        if _table is not None:
            self._index = _table.claim(os.getpid())
        super().init_process()

    def _publish(self) -> None:
        if _table is not None and self._index >= 0:
            _table.publish(self._index, self.nr_conns)

    def _fewest_elsewhere(self) -> int | None:
        """The fewest connections another live worker with room holds (None: none to compare with)."""
        if _table is None or self._index < 0:
            return None
        return _table.fewest_elsewhere(self._index, capacity=self.worker_connections)

    def _balanced(self) -> bool:
        self._publish()
        fewest = self._fewest_elsewhere()
        return fewest is None or self.nr_conns <= fewest

    @property
    def max_keepalived(self) -> int:
        """gunicorn closes a connection after its response when this is reached; see ``_crowded``."""
        return 0 if self._crowded() else self._max_keepalived

    @max_keepalived.setter
    def max_keepalived(self, value: int) -> None:
        self._max_keepalived = value

    def _crowded(self) -> bool:
        """This worker holds at least 2 connections more than another live worker.

        A kept-alive connection stays where it was accepted, and counts can be a moment out of
        date when clients leave and others arrive together; the response then says
        ``Connection: close`` and the client's next connection goes to the less loaded worker.
        """
        fewest = self._fewest_elsewhere()
        return fewest is not None and self.nr_conns >= fewest + 2

    def notify(self) -> None:
        super().notify()  # once per loop turn: the heartbeat gunicorn's master watches
        self._publish()

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self.alive and self._balanced())

    def accept(self, listener: Any) -> None:
        if not self._balanced():
            self.set_accept_enabled(False)  # re-checked on the next loop turn
            return
        super().accept(listener)
        self._publish()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # While held back, look again soon: the worker that had fewer connections may have
        # taken new ones meanwhile, and a waiting client must not sit in the backlog for
        # gunicorn's one-second loop (nor be reset there if the server is stopped).
        if self.alive and not self._accepting and self.nr_conns < self.worker_connections:
            timeout = min(timeout, RECHECK_INTERVAL)
        super().wait_for_and_dispatch_events(timeout)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if _table is not None and self._index >= 0:
            _table.release(self._index)  # an exiting worker takes no new connections
            self._index = -1
        super().handle_exit(sig, frame)
