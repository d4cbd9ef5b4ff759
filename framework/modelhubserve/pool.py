"""The worker processes, seen from the main process: forked, given connections, watched, replaced.

A worker is given connections only once its app (and so its model) has loaded; each new connection
goes to the ready worker holding the fewest.  One that cannot load says so in the log, gets no
connection and is tried again later, with a growing pause.  One that dies (its control socket ends)
or stops beating for ``hard_limit`` seconds (stuck in work nothing can stop) is replaced; it loses
only what it had in flight.  One that retires (an inference it could not stop holds its slot) gets
no new connection and is replaced at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import workerproc

log = logging.getLogger("modelhub.pool")

RETRY_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)  # before respawning a worker that failed, by failures in a row
WATCH_EVERY = 0.25  # seconds


@dataclass(eq=False)
class Worker:
    slot: int
    pid: int
    control: socket.socket
    ready: bool = False
    retiring: bool = False
    open: int = 0
    given: int = 0  # connections handed over in all: ties go to the one given fewest, so all stay warm
    last_beat: float = 0.0


class Pool:
    """``on_fork()`` runs in each new worker before it closes inherited descriptors, ``on_exit(pid)`` once reaped."""

    def __init__(
        self,
        size: int,
        spec: workerproc.WorkerSpec,
        hard_limit: float,
        on_fork: Callable[[], None] | None = None,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.size = size
        self.spec = spec
        self.hard_limit = hard_limit
        self.on_fork = on_fork
        self.on_exit = on_exit
        self.workers: dict[int, Worker] = {}  # by pid, retiring ones included
        self.load_error: str | None = None
        self.stopping = False
        self.lost = 0  # workers that died or were killed with connections open
        self._failures: dict[int, int] = {}

    @property
    def ready(self) -> bool:
        return any(w.ready and not w.retiring for w in self.workers.values())

    @property
    def open(self) -> int:
        return sum(w.open for w in self.workers.values())

    async def start(self) -> None:
        for slot in range(self.size):
            self._spawn(slot)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def _spawn(self, slot: int) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the child: keep only stdio and its control socket, then never return
            try:
                if self.on_fork is not None:
                    self.on_fork()
                keep = child.fileno()
                limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                os.closerange(3, keep)
                os.closerange(keep + 1, max(limit, keep + 1))
                signal.set_wakeup_fd(-1)
                workerproc.run(child, self.spec)
            finally:
                os._exit(1)
        child.close()
        parent.setblocking(False)
        worker = Worker(slot, pid, parent, last_beat=time.monotonic())
        self.workers[pid] = worker
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_message, worker)

    def _on_message(self, worker: Worker) -> None:
        while True:
            try:
                message = worker.control.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message = b""
            if not message:
                self._gone(worker, "died" if worker.ready else "ended while loading the model")
                return
            if message == b"closed":
                worker.open = max(0, worker.open - 1)
            elif message == b"beat":
                worker.last_beat = time.monotonic()
            elif message == b"ready":
                worker.ready, worker.last_beat = True, time.monotonic()
                self._failures[worker.slot], self.load_error = 0, None
                log.info("worker %d (pid %d) ready", worker.slot, worker.pid)
            elif message == b"retire":
                worker.retiring = True
                log.error("worker %d (pid %d) holds a model call it could not stop: replaced", worker.slot, worker.pid)
                if not self.stopping:
                    self._spawn(worker.slot)
            elif message.startswith(b"failed:"):
                self._failed(worker, message[7:].decode("utf-8", "replace"))
                return

    def _failed(self, worker: Worker, why: str) -> None:
        failures = self._failures.get(worker.slot, 0) + 1
        self._failures[worker.slot] = failures
        self.load_error = why
        pause = RETRY_PAUSES[min(failures, len(RETRY_PAUSES)) - 1]
        log.error(
            "WORKER %d COULD NOT LOAD THE MODEL and takes no requests (%s); trying again in %g s",
            worker.slot,
            why,
            pause,
        )
        self._forget(worker)
        if not self.stopping:
            asyncio.get_running_loop().call_later(pause, self._respawn, worker.slot)

    def _respawn(self, slot: int) -> None:
        if not self.stopping:
            self._spawn(slot)

    def _gone(self, worker: Worker, how: str) -> None:
        """A worker whose control socket ended: it died (or was killed); replace it."""
        if worker.pid not in self.workers:
            return
        if worker.open and not worker.retiring:
            self.lost += 1
            log.error(
                "worker %d (pid %d) %s with %d connection(s) open; replacing it",
                worker.slot,
                worker.pid,
                how,
                worker.open,
            )
        self._forget(worker)
        if not self.stopping and not worker.retiring:
            self._spawn(worker.slot)

    def _forget(self, worker: Worker, kill: bool = False) -> None:
        self.workers.pop(worker.pid, None)
        loop = asyncio.get_running_loop()
        loop.remove_reader(worker.control.fileno())
        worker.control.close()
        if kill:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        loop.create_task(self._reap(worker.pid, time.monotonic() + 10))

    async def _watch(self) -> None:
        """Replace workers that stopped beating (stuck in work that nothing could stop)."""
        while not self.stopping:
            await asyncio.sleep(WATCH_EVERY)
            now = time.monotonic()
            for worker in list(self.workers.values()):
                if worker.ready and now - worker.last_beat > self.hard_limit:
                    log.error(
                        "worker %d (pid %d) answered nothing for %.0f s: killed and replaced",
                        worker.slot,
                        worker.pid,
                        now - worker.last_beat,
                    )
                    self.lost += 1
                    self._forget(worker, kill=True)
                    if not self.stopping and not worker.retiring:
                        self._spawn(worker.slot)

    def give(self, conn: socket.socket) -> bool:
        """Hand ``conn`` to the ready worker with the fewest open connections; False if none can take it."""
        ready = sorted(
            (w for w in self.workers.values() if w.ready and not w.retiring), key=lambda w: (w.open, w.given)
        )
        for worker in ready:
            try:
                socket.send_fds(worker.control, [b"c"], [conn.fileno()])
            except (BlockingIOError, InterruptedError):
                continue  # its control socket is full: try the next
            except OSError:
                continue
            worker.open += 1
            worker.given += 1
            return True
        return False

    async def stop(self, timeout: float) -> None:
        """Ask every worker to finish what it has (within ``timeout``), then end the rest."""
        self.stopping = True
        for worker in self.workers.values():
            try:
                worker.control.send(b"stop")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for worker in list(self.workers.values()):
            if await _reaped(worker.pid, deadline):
                self._exited(worker.pid)
            else:
                self._forget(worker, kill=True)

    async def _reap(self, pid: int, until: float) -> None:
        if await _reaped(pid, until):
            self._exited(pid)

    def _exited(self, pid: int) -> None:
        if self.on_exit is not None:
            self.on_exit(pid)


async def _reaped(pid: int, until: float) -> bool:
    """Wait (without blocking the loop) until child ``pid`` has exited and is reaped; False at ``until``."""
    while time.monotonic() < until:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        await asyncio.sleep(0.02)
    return False
