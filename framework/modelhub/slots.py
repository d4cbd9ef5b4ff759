"""The request deadline and the inference slots: one mechanism for waiting, running and giving up.

A :class:`Deadline` starts with the request and covers every stage.  :class:`InferenceSlots` runs
model calls in its own threads, at most ``slots`` at a time: the caller waits for a free slot
until the deadline (then 503), and for the call until the deadline (then 504).  When the caller
gives up, the call's :class:`Cancel` fires: an onnxruntime run registered on it
(:mod:`modelhub.runtime`) stops at once and frees its slot; a call that cannot be stopped keeps
its slot until it returns, so the model is never entered by more calls than there are slots.
The wait for the call is the executor future's own timeout: no timer or watchdog thread.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InferenceTimeout, NotReady

log = logging.getLogger(__name__)

T = TypeVar("T")


class Deadline:
    """``seconds`` from ``start`` (a ``time.monotonic()`` value; default now); ``None``: no limit."""

    def __init__(self, seconds: float | None, start: float | None = None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else (time.monotonic() if start is None else start) + seconds

    def remaining(self) -> float | None:
        """Seconds left (at least 0), or ``None`` without a limit."""
        return None if self.end is None else max(0.0, self.end - time.monotonic())


class Cancel:
    """Callbacks that stop a running call; :func:`on_cancel` registers one for the current call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.fired = False

    def add(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.fired:
                self._callbacks.append(callback)
                return
        callback()  # already cancelled: stop at once

    def discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def fire(self) -> bool:
        """Run the callbacks; True if the call had registered a way to stop it."""
        with self._lock:
            self.fired = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
        return bool(callbacks)


_current: contextvars.ContextVar[Cancel | None] = contextvars.ContextVar("modelhub_cancel", default=None)
_abandoned: set[concurrent.futures.Future[Any]] = set()  # calls given up on that could not be stopped


def abandoned() -> int:
    """How many model calls of this process were given up on and still run, holding their slots."""
    return len(_abandoned)


def on_cancel(callback: Callable[[], None]) -> Callable[[], None]:
    """Have ``callback`` run if the caller of the current model call gives up; returns an unregister."""
    cancel = _current.get()
    if cancel is None:
        return lambda: None
    cancel.add(callback)
    return lambda: cancel.discard(callback)


class InferenceSlots:
    """At most ``slots`` model calls at a time, each bounded by the caller's :class:`Deadline`."""

    def __init__(self, slots: int = 1) -> None:
        self._slots = slots
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._free = threading.BoundedSemaphore(self._slots)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self._slots, thread_name_prefix="inference")

    def run(self, call: Callable[[], T], deadline: Deadline) -> tuple[T, float, float]:
        """``call()`` in a slot; returns its result, the seconds waited for the slot and the seconds it ran."""
        if self._pid != os.getpid():  # a forked worker: the parent's threads did not come along
            self._start()
        asked = time.perf_counter()
        wait = deadline.remaining()
        if not self._free.acquire(timeout=-1 if wait is None else wait):
            raise NotReady(f"the server is busy: no inference slot became free within {deadline.seconds:g} s")
        started = time.perf_counter()
        cancel = Cancel()
        try:
            future = self._pool.submit(_in_context, cancel, call)
        except BaseException:
            self._free.release()
            raise
        future.add_done_callback(lambda _done: self._free.release())
        try:
            result = future.result(timeout=deadline.remaining())
        except concurrent.futures.TimeoutError:
            stopped = cancel.fire()
            how = "stopped" if stopped else "abandoned"
            if not stopped:
                _abandoned.add(future)
                future.add_done_callback(_abandoned.discard)
                log.error(
                    "inference overran the request timeout of %g s; answered 504 (the call finishes in "
                    "the background and holds its inference slot until then)",
                    deadline.seconds,
                )
            raise InferenceTimeout(f"inference took longer than {deadline.seconds:g} s and was {how}") from None
        return result, started - asked, time.perf_counter() - started


def _in_context(cancel: Cancel, call: Callable[[], T]) -> T:
    _current.set(cancel)
    try:
        return call()
    finally:
        _current.set(None)
