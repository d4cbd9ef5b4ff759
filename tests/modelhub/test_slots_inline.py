"""Where a model call runs: in the caller's thread once a call showed it can be stopped, else in the slot's thread."""

from __future__ import annotations

import threading
import time

import pytest

from modelhub.errors import InferenceTimeout
from modelhub.slots import Deadline, InferenceSlots, on_cancel


def stoppable(seconds: float, seen: list[str]) -> str:
    """Sleeps like an onnxruntime run that registered its RunOptions.terminate; stops when cancelled."""
    seen.append(threading.current_thread().name)
    stop = threading.Event()
    unregister = on_cancel(stop.set)
    try:
        if stop.wait(seconds):
            raise InferenceTimeout("stopped")
    finally:
        unregister()
    return "done"


def test_a_stoppable_model_runs_in_the_callers_thread_after_its_first_call() -> None:
    slots = InferenceSlots(slots=1)
    seen: list[str] = []
    for _ in range(3):
        assert slots.run(lambda: stoppable(0, seen), Deadline(5))[0] == "done"
    me = threading.current_thread().name
    assert seen[0].startswith("inference") and seen[1:] == [me, me] and slots.inline


def test_in_the_callers_thread_the_deadline_stops_the_call_on_time() -> None:
    slots = InferenceSlots(slots=1)
    seen: list[str] = []
    slots.run(lambda: stoppable(0, seen), Deadline(5))
    started = time.monotonic()
    with pytest.raises(InferenceTimeout, match=r"longer than 0.2 s and was stopped"):
        slots.run(lambda: stoppable(10, seen), Deadline(0.2))
    assert time.monotonic() - started < 0.6
    assert slots.run(lambda: stoppable(0, seen), Deadline(5))[0] == "done"  # the slot was given back
    assert slots.inline and seen[-1] == threading.current_thread().name


def test_an_overrun_with_nothing_to_stop_is_504_and_sends_the_model_back_to_the_thread() -> None:
    slots = InferenceSlots(slots=1)
    seen: list[str] = []
    slots.run(lambda: stoppable(0, seen), Deadline(5))
    assert slots.inline

    def unstoppable() -> str:
        time.sleep(0.3)  # registers no stop
        return "late"

    with pytest.raises(InferenceTimeout, match=r"longer than 0.1 s"):
        slots.run(unstoppable, Deadline(0.1))
    assert not slots.inline
    started = time.monotonic()
    with pytest.raises(InferenceTimeout, match="abandoned"):  # now answered at the deadline again
        slots.run(lambda: time.sleep(1.0), Deadline(0.2))
    assert time.monotonic() - started < 0.6


def test_a_model_that_never_registers_a_stop_stays_in_the_thread() -> None:
    slots = InferenceSlots(slots=1)
    names = [slots.run(lambda: threading.current_thread().name, Deadline(5))[0] for _ in range(3)]
    assert all(name.startswith("inference") for name in names) and not slots.inline
