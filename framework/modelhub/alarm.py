"""One thread per process that calls a function at a deadline: what stops a model call run in its caller's thread.

Written here rather than taken from the standard library: ``threading.Timer`` starts a thread per
call (about 100 µs each, at 200 requests/s), and ``signal.setitimer`` cannot interrupt a C call such
as an onnxruntime run.  Only the calls running now are held (at most the inference slots), so the
thread wakes at the earliest of their deadlines; adding a deadline wakes it only when that deadline
is earlier than the one it sleeps towards (with one request timeout for every call, never), and a
finished call is dropped without waking it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Entry = tuple[float, Callable[[], object]]


class Alarm:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._entries: list[Entry] = []
        self._waking_at: float | None = None  # the time the thread sleeps towards; None: until notified
        self._thread: threading.Thread | None = None

    def add(self, end: float | None, callback: Callable[[], object]) -> Entry | None:
        """Call ``callback`` once ``time.monotonic()`` reaches ``end`` (``None``: never) unless removed first."""
        if end is None:
            return None
        entry = (end, callback)
        with self._changed:
            self._entries.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="deadline-alarm", daemon=True)
                self._thread.start()
            elif self._waking_at is None or end < self._waking_at:
                self._changed.notify()
        return entry

    def remove(self, entry: Entry | None) -> None:
        if entry is None:
            return
        with self._changed:
            if entry in self._entries:
                self._entries.remove(entry)

    def _watch(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [entry for entry in self._entries if entry[0] <= now]
                for entry in due:
                    self._entries.remove(entry)
                self._waking_at = min((end for end, _ in self._entries), default=None)
                if not due:
                    self._changed.wait(None if self._waking_at is None else self._waking_at - now)
                    continue
            for _end, callback in due:
                try:
                    callback()
                except Exception:
                    log.exception("a deadline callback failed")
