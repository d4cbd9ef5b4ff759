"""The worker processes behind the front: forked, each answering one complete request at a time.

A worker joins the pool only once its app (and so its model) has loaded; one that cannot load says
so in the log, takes no requests and is tried again later, with a growing pause.  A request waits for
a free worker until its deadline (then 503); a worker that does not answer within the hard limit is
killed and replaced (504), and one that dies loses only the request it had (503).
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
from dataclasses import dataclass, field
from typing import Any

from . import workerproc
from .wire import WireRequest, WireResponse, pack, read_frame

log = logging.getLogger("modelhub.pool")

LOAD_TIMEOUT = 600.0  # seconds a worker may take to load its model
RETRY_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)  # before respawning a worker that failed, by failures in a row


class PoolError(Exception):
    """A request the pool could not answer; ``status`` and ``message`` go to the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(eq=False)
class Worker:
    slot: int
    pid: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ready: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class Pool:
    """``on_fork()`` runs in each new worker before it closes inherited descriptors, ``on_exit(pid)`` once reaped."""

    def __init__(self, size: int, factory: Callable[[], workerproc.WSGIApp], on_fork: Callable[[], None] | None = None,
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.size = size
        self.factory = factory
        self.on_fork = on_fork
        self.on_exit = on_exit
        self.workers: dict[int, Worker] = {}  # by slot
        self.idle: asyncio.Queue[Worker] = asyncio.Queue()
        self.load_error: str | None = None
        self.stopping = False
        self.lost_requests = 0
        self._failures: dict[int, int] = {}

    @property
    def ready(self) -> bool:
        return any(worker.ready for worker in self.workers.values())

    async def start(self) -> None:
        for slot in range(self.size):
            await self._spawn(slot)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Replace idle workers that died (a busy one's death is seen by the request it had)."""
        while not self.stopping:
            await asyncio.sleep(0.25)
            for worker in list(self.workers.values()):
                if worker.ready and worker in self.idle._queue:  # type: ignore[attr-defined]
                    try:
                        done, _status = os.waitpid(worker.pid, os.WNOHANG)
                    except ChildProcessError:
                        done = worker.pid
                    if done:
                        log.error("worker %d (pid %d) died while idle; replacing it", worker.slot, worker.pid)
                        await self._replace(worker, kill=False)

    async def _spawn(self, slot: int) -> None:
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the child: keep only stdio and its end of the pair, then never return
            try:
                if self.on_fork is not None:
                    self.on_fork()
                keep = child.fileno()
                limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                os.closerange(3, keep)
                os.closerange(keep + 1, max(limit, keep + 1))
                signal.set_wakeup_fd(-1)
                workerproc.run(child, self.factory)
            finally:
                os._exit(1)
        child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent, limit=2**16)
        worker = Worker(slot, pid, reader, writer)
        self.workers[slot] = worker
        asyncio.get_running_loop().create_task(self._welcome(worker))

    async def _welcome(self, worker: Worker) -> None:
        try:
            kind, detail = await asyncio.wait_for(read_frame(worker.reader), LOAD_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            kind, detail = "failed", "the worker process ended while loading the model"
        if kind == "ready":
            self._failures[worker.slot] = 0
            self.load_error = None
            worker.ready = True
            log.info("worker %d (pid %d) ready", worker.slot, worker.pid)
            self.idle.put_nowait(worker)
            return
        failures = self._failures.get(worker.slot, 0) + 1
        self._failures[worker.slot] = failures
        self.load_error = str(detail)
        pause = RETRY_PAUSES[min(failures, len(RETRY_PAUSES)) - 1]
        log.error("WORKER %d COULD NOT LOAD THE MODEL and takes no requests (%s); trying again in %g s",
                  worker.slot, detail, pause)
        await self._bury(worker)
        if not self.stopping:
            await asyncio.sleep(pause)
            if not self.stopping:
                await self._spawn(worker.slot)

    async def _bury(self, worker: Worker, kill: bool = False) -> None:
        """Forget ``worker``: kill it if asked, close its socket, reap its process."""
        worker.ready = False
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        if kill:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.writer.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                done, _status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:
                done = worker.pid
            if done:
                break
            await asyncio.sleep(0.02)
        if self.on_exit is not None:
            self.on_exit(worker.pid)

    async def call(self, request: WireRequest, wait: float, limit: float) -> WireResponse:
        """The worker's answer to ``request``: wait up to ``wait`` s for a free worker, ``limit`` s for it."""
        try:
            worker = await asyncio.wait_for(self._free_worker(), wait)
        except TimeoutError:
            if not self.ready:
                raise PoolError(503, "the model is still loading; retry in a moment") from None
            raise PoolError(503, f"the server is busy: no worker became free within {wait:g} s") from None
        try:
            worker.writer.write(pack(request))
            response: WireResponse = await asyncio.wait_for(read_frame(worker.reader), limit)
        except TimeoutError:
            log.error("worker %d (pid %d) did not answer %s %s within %g s: killed and replaced",
                      worker.slot, worker.pid, request.method, request.target[:200], limit)
            await self._replace(worker)
            raise PoolError(504, f"the request took longer than {limit:g} s and was stopped") from None
        except (asyncio.IncompleteReadError, ConnectionError):
            self.lost_requests += 1
            log.error("worker %d (pid %d) died while answering %s %s; replacing it",
                      worker.slot, worker.pid, request.method, request.target[:200])
            await self._replace(worker, kill=False)
            raise PoolError(503, "the worker serving this request stopped; retry") from None
        if response.retire:
            log.error("worker %d (pid %d) still runs a model call it could not stop: killed and replaced",
                      worker.slot, worker.pid)
            await self._replace(worker)
        else:
            self.idle.put_nowait(worker)
        return response

    async def _free_worker(self) -> Worker:
        while True:
            worker = await self.idle.get()
            if worker.ready and self.workers.get(worker.slot) is worker:
                return worker

    async def _replace(self, worker: Worker, kill: bool = True) -> None:
        await self._bury(worker, kill=kill)
        if not self.stopping:
            await self._spawn(worker.slot)

    async def stop(self, timeout: float) -> None:
        """Stop every worker (they are idle by now): SIGTERM, then SIGKILL after ``timeout`` s."""
        self.stopping = True
        workers = list(self.workers.values())
        for worker in workers:
            try:
                os.kill(worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for worker in workers:
            while time.monotonic() < deadline:
                try:
                    done, _status = os.waitpid(worker.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                await asyncio.sleep(0.02)
            else:
                await self._bury(worker, kill=True)
            worker.writer.close()
