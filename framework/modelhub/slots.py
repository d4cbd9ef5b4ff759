"""The request deadline and the inference slots: one mechanism for waiting, running and giving up.

A :class:`Deadline` starts with the request and covers every stage.  :class:`InferenceSlots` runs
model calls at most ``slots`` at a time: the caller waits for a free slot until the deadline (then
503), and for the call until the deadline (then 504).  At the deadline the call's :class:`Cancel`
fires: an onnxruntime run registered on it (:mod:`modelhub.runtime`) stops at once and frees its slot.

Where a call runs:

- **in the caller's thread** once a call of this model has shown it can be stopped (it registered a
  stop through :func:`on_cancel`, as ``OnnxSession.run`` does).  The deadline then fires the call's
  :class:`Cancel` from :class:`_Alarm`, one thread per process that sleeps until the earliest
  deadline of the calls running now and is woken only for an earlier one (with one timeout for all,
  never).  Measured against the slot thread with ``wrk`` on the production server, builds alternated
  (bench/RESULTS.md): 1-client p50 -1.4 ms and +12-14% requests/s at 2-4 connections, as the hand-off
  to another thread and back (two wake-ups and a GIL exchange per request) is gone;
- **in the slot's own thread** otherwise (original-style ``infer`` models, contributor code that
  registers no stop): the caller waits for it with the executor future's timeout and, at the
  deadline, answers 504 while the call finishes in the background holding its slot (``abandoned``),
  so the model is never entered by more calls than there are slots.  A call run in the caller's
  thread that overran with nothing to stop sends the model back to this mode for good.
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

from .alarm import Alarm
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
        self.stopped = False  # fire() found a way to stop the call
        self.registered = False  # the call registered a stop at some point: it can be stopped

    def add(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self.registered = True
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
            self.stopped = self.stopped or bool(callbacks)
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
        self.inline = False  # True once a call showed it can be stopped: calls run in the caller's thread
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._free = threading.BoundedSemaphore(self._slots)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self._slots, thread_name_prefix="inference")
        self._alarm = Alarm()

    def run(self, call: Callable[[], T], deadline: Deadline) -> tuple[T, float, float]:
        """``call()`` in a slot; returns its result, the seconds waited for the slot and the seconds it ran."""
        if self._pid != os.getpid():  # a forked worker: the parent's threads did not come along
            self._start()
        asked = time.perf_counter()
        if not self._free.acquire(timeout=deadline.remaining()):  # None: no limit (-1 would give up at once)
            raise NotReady(f"the server is busy: no inference slot became free within {deadline.seconds:g} s")
        started = time.perf_counter()
        cancel = Cancel()
        if self.inline:
            try:
                result = self._run_here(call, cancel, deadline)
            finally:
                self._free.release()
        else:
            result = self._run_in_thread(call, cancel, deadline)
        return result, started - asked, time.perf_counter() - started

    def _run_here(self, call: Callable[[], T], cancel: Cancel, deadline: Deadline) -> T:
        token = _current.set(cancel)
        entry = self._alarm.add(deadline.end, cancel.fire)
        try:
            result = call()
        except InferenceTimeout:
            raise InferenceTimeout(f"inference took longer than {deadline.seconds:g} s and was stopped") from None
        finally:
            self._alarm.remove(entry)
            _current.reset(token)
        if cancel.fired:  # it returned, but after its deadline
            if not cancel.stopped:
                self.inline = False
                log.error(
                    "inference overran the request timeout of %g s with nothing to stop it; answered 504, and "
                    "this model's calls now run in the inference thread, which the request can leave at its deadline",
                    deadline.seconds,
                )
            raise InferenceTimeout(f"inference took longer than {deadline.seconds:g} s")
        return result

    def _run_in_thread(self, call: Callable[[], T], cancel: Cancel, deadline: Deadline) -> T:
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
        if cancel.registered and not self.inline:
            self.inline = True
            log.debug("the model's calls can be stopped: they run in the caller's thread from now on")
        return result


def _in_context(cancel: Cancel, call: Callable[[], T]) -> T:
    _current.set(cancel)
    try:
        return call()
    finally:
        _current.set(None)
