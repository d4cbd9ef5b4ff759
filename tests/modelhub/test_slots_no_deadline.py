"""A call without a deadline (``modelhub predict``'s threads) waits for the busy slot instead of failing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from modelhub.slots import Deadline, InferenceSlots


def test_without_a_deadline_callers_wait_their_turn() -> None:
    slots = InferenceSlots(slots=1)
    inside, most = 0, 0
    lock = threading.Lock()

    def call() -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return 7

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _i: slots.run(call, Deadline(None))[0], range(4)))
    assert results == [7, 7, 7, 7] and most == 1
