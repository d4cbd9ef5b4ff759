"""SIGTERM to the server while requests are in flight: every one of them finishes with 200."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability_support import all_workers_ready, write_fake_model_file
from test_timeouts import CONFIG, SLEEPY_INFERENCE, sleep_image

pytestmark = pytest.mark.server


@pytest.fixture
def sleepy(fake_package: Callable[..., Path]) -> Path:
    root = fake_package("sleepy_shutdown", inference=SLEEPY_INFERENCE, config=CONFIG, samples=False)
    write_fake_model_file(root)
    return root


def test_sigterm_lets_in_flight_requests_finish(start_server: Callable[..., Any], sleepy: Path) -> None:
    server = start_server(
        "--contrib",
        str(sleepy),
        "--model-file",
        str(sleepy / "model" / "fake.onnx"),
        "--workers",
        "2",
        env={"MODELHUB_GRACEFUL_TIMEOUT": "15", "MODELHUB_REQUEST_TIMEOUT": "20"},
    )
    all_workers_ready(server.url)
    results: list[Any] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            response = requests.post(
                f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(1.0))}, timeout=30
            )
            outcome: Any = (response.status_code, response.json())
        except requests.RequestException as error:
            outcome = ("error", repr(error))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(6)]  # 3 per worker: 1 s each, one at a time
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # all six are accepted and the first two are inferring
    started = time.monotonic()
    os.killpg(server.process.pid, 0)  # the master is alive
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    assert [r[0] for r in results] == [200] * 6, results
    assert all(r[1]["output"][0]["prediction"][0]["label"] == "slept" for r in results)
    assert server.process.wait(20) == 0
    took = time.monotonic() - started
    assert 2.0 < took < 15, took  # it waited for the queued requests, within the grace period
    log = server.log()
    assert "Traceback" not in log


def test_grace_period_is_bounded(start_server: Callable[..., Any], sleepy: Path) -> None:
    """A request longer than MODELHUB_GRACEFUL_TIMEOUT does not hold the shutdown forever."""
    server = start_server(
        "--contrib",
        str(sleepy),
        "--model-file",
        str(sleepy / "model" / "fake.onnx"),
        "--workers",
        "1",
        env={"MODELHUB_GRACEFUL_TIMEOUT": "1", "MODELHUB_REQUEST_TIMEOUT": "60"},
    )
    thread = threading.Thread(
        target=lambda: _swallow(
            lambda: requests.post(f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(8))}, timeout=30)
        )
    )
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(15)
    assert time.monotonic() - started < 6
    thread.join(30)


def _swallow(call: Callable[[], Any]) -> None:
    try:
        call()
    except requests.RequestException:
        pass
