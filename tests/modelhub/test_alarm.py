"""The deadline alarm: calls at the deadline, never for a removed entry, on time for an earlier one added later."""

from __future__ import annotations

import threading
import time

from modelhub.alarm import Alarm


def test_fires_at_the_deadline_and_not_after_removal() -> None:
    alarm = Alarm()
    fired: dict[str, float] = {}
    start = time.monotonic()
    kept = alarm.add(start + 0.2, lambda: fired.setdefault("kept", time.monotonic() - start))
    dropped = alarm.add(start + 0.1, lambda: fired.setdefault("dropped", time.monotonic() - start))
    alarm.remove(dropped)
    assert alarm.add(None, lambda: fired.setdefault("never", 0.0)) is None
    time.sleep(0.4)
    assert set(fired) == {"kept"} and 0.19 <= fired["kept"] < 0.35, fired
    alarm.remove(kept)  # already fired: nothing to do


def test_an_earlier_deadline_added_later_wakes_the_thread() -> None:
    alarm = Alarm()
    done = threading.Event()
    start = time.monotonic()
    alarm.add(start + 30, lambda: None)  # the thread now sleeps towards +30 s
    time.sleep(0.05)
    alarm.add(start + 0.1, done.set)
    assert done.wait(1.0) and time.monotonic() - start < 0.5


def test_a_later_deadline_does_not_wake_the_thread() -> None:
    """With one timeout for every call, adding a call never wakes the sleeping thread."""
    alarm = Alarm()
    start = time.monotonic()
    first = alarm.add(start + 30, lambda: None)
    time.sleep(0.05)
    alarm.remove(first)
    woken = []
    original = alarm._changed.notify
    alarm._changed.notify = lambda n=1: (woken.append(n), original(n))  # type: ignore[method-assign]
    for i in range(50):
        alarm.remove(alarm.add(start + 31 + i, lambda: None))
    assert woken == []
