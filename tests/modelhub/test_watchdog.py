"""The deadline thread that stops overrunning onnxruntime calls."""

from __future__ import annotations

import threading
import time

import pytest

from modelhub.watchdog import Watchdog


def test_fires_only_for_calls_still_running() -> None:
    dog = Watchdog()
    fired: list[str] = []
    with dog.deadline(5.0, lambda: fired.append("slow-but-in-time")):
        pass
    expired = threading.Event()
    with dog.deadline(0.05, lambda: (fired.append("overran"), expired.set())):
        assert expired.wait(2.0)
    time.sleep(0.1)
    assert fired == ["overran"]


def test_no_deadline_means_no_thread() -> None:
    dog = Watchdog()
    with dog.deadline(None, lambda: None):
        pass
    assert dog._thread is None


def test_earlier_deadline_registered_later_still_fires_on_time() -> None:
    dog = Watchdog()
    fired = threading.Event()
    with dog.deadline(30.0, lambda: None):
        started = time.monotonic()
        with dog.deadline(0.05, fired.set):
            assert fired.wait(2.0)
        assert time.monotonic() - started < 1.0  # not held back by the 30 s deadline ahead of it


def test_one_thread_and_no_backlog_after_many_calls() -> None:
    dog = Watchdog()
    before = threading.active_count()
    for _ in range(1000):
        with dog.deadline(30.0, lambda: None):
            pass
    assert threading.active_count() <= before + 1
    assert dog._heap == [] and dog._actions == {}


def test_calls_with_the_same_timeout_do_not_wake_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    dog = Watchdog()
    with dog.deadline(30.0, lambda: None):
        pass
    time.sleep(0.05)  # the thread has started and sleeps
    wakes: list[int] = []
    original = dog._condition.notify
    monkeypatch.setattr(dog._condition, "notify", lambda n=1: (wakes.append(n), original(n)))
    for _ in range(100):
        with dog.deadline(30.0, lambda: None):
            pass
    assert wakes == []
    fired = threading.Event()
    with dog.deadline(0.05, fired.set):  # due before the thread's next look: it is woken
        assert fired.wait(0.5)
    assert wakes == [1]
