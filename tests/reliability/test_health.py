"""/v2/health/live and /v2/health/ready: ready only once the model is loaded and warmed up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import FAKE_INFERENCE_PREFIX, write_fake_model_file

from modelhub.host import ModelHost
from modelhub.settings import load_settings
from modelhubapi.app import create_app
from modelhubapi.service import build_api

SLOW_INIT = (
    FAKE_INFERENCE_PREFIX
    + """
import os, time


class Model(LegacyModel):
    def __init__(self):
        deadline = time.monotonic() + 10
        while not os.path.exists("GO") and time.monotonic() < deadline:  # the test says when
            time.sleep(0.02)
        super().__init__()
"""
)

BROKEN_WARM_UP = (
    FAKE_INFERENCE_PREFIX
    + """

class Model(LegacyModel):
    def infer(self, input):
        raise RuntimeError("secret internal detail /srv/weights")
"""
)


def settings_for(package: Path, **overrides: Any) -> Any:
    write_fake_model_file(package)
    return load_settings(
        {"contrib_dir": str(package), "model_file": str(package / "model" / "fake.onnx"), **overrides}, environ={}
    )


def _wait(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ready_only_after_load_and_warm_up(fake_package: Callable[..., Path]) -> None:
    package = fake_package("slow_init", inference=SLOW_INIT)
    # API requests wait for the load up to request_timeout, then get a 503.
    app = create_app(settings_for(package, request_timeout=0.2), background=True)
    host: ModelHost = app.extensions["modelhub"].host
    with app.test_client() as client:
        for _ in range(3):
            live = client.get("/v2/health/live")
            assert live.status_code == 200 and live.get_json() == {"live": True}
            ready = client.get("/v2/health/ready")
            assert ready.status_code == 503 and ready.get_json() == {"ready": False}
            predict = client.get("/api/predict_sample", query_string={"filename": "red.png"})
            assert predict.status_code == 503
            assert predict.get_json() == {"error": "the model is still loading; retry in a moment"}
            assert client.get("/api/get_config").status_code == 503
        (package / "GO").write_text("")
        assert host.wait(10)
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 200 and ready.get_json() == {"ready": True}
        assert client.get("/api/predict_sample", query_string={"filename": "red.png"}).status_code == 200


def test_requests_during_loading_wait_for_the_model(fake_package: Callable[..., Path]) -> None:
    package = fake_package("slow_init_wait", inference=SLOW_INIT)
    app = create_app(settings_for(package, request_timeout=20), background=True)
    results: list[int] = []

    def ask() -> None:
        with app.test_client() as client:
            results.append(client.get("/api/predict_sample", query_string={"filename": "red.png"}).status_code)

    waiting = threading.Thread(target=ask)
    waiting.start()
    time.sleep(0.3)
    assert waiting.is_alive() and not results  # held, not refused, while the model loads
    (package / "GO").write_text("")
    waiting.join(20)
    assert results == [200]


def test_model_host_background_with_a_slow_builder(fake_package: Callable[..., Path]) -> None:
    settings = settings_for(fake_package())
    gate, warmed = threading.Event(), []

    def slow_builder(s: Any) -> Any:
        gate.wait(10)
        api = build_api(s)
        warmed.append(True)
        return api

    host = ModelHost(settings)
    host.start(background=True, builder=slow_builder)
    app = create_app(settings, host=host)
    with app.test_client() as client:
        assert client.get("/v2/health/ready").status_code == 503
        assert not host.ready and host.error is None
        gate.set()
        _wait(lambda: host.ready)
        assert warmed == [True]
        assert client.get("/v2/health/ready").get_json() == {"ready": True}


def test_failed_warm_up_is_never_ready_and_says_why(
    fake_package: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    package = fake_package("broken_warm_up", inference=BROKEN_WARM_UP)
    app = create_app(settings_for(package), background=True)
    host: ModelHost = app.extensions["modelhub"].host
    assert host.wait(10) is False
    with app.test_client() as client:
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 503
        body = ready.get_json()
        assert body["ready"] is False and "the model failed to load" in body["error"]
        assert "secret internal detail" not in body["error"]
        predict = client.get("/api/predict_sample", query_string={"filename": "red.png"})
        assert predict.status_code == 503 and "failed to load" in predict.get_json()["error"]
        assert client.get("/v2/health/live").status_code == 200


def test_foreground_load_failure_raises(fake_package: Callable[..., Path]) -> None:
    package = fake_package("broken_fg", inference=BROKEN_WARM_UP)
    with pytest.raises(Exception) as info:
        create_app(settings_for(package), background=False)
    assert "failed" in str(info.value)


WORKER_WAITS = (
    FAKE_INFERENCE_PREFIX
    + '''
import os, time


class Model(LegacyModel):
    """The first build (the master's preflight) is quick; later builds (the workers) wait for GO."""

    def __init__(self):
        if os.path.exists("PREFLIGHT_DONE"):
            deadline = time.monotonic() + 20
            while not os.path.exists("GO") and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            open("PREFLIGHT_DONE", "w").close()
        super().__init__()
'''
)


@pytest.mark.server
def test_production_server_is_not_ready_until_a_worker_warmed_up(
    start_server: Callable[..., Any], fake_package: Callable[..., Path]
) -> None:
    import requests

    package = fake_package("slow_worker", inference=WORKER_WAITS)
    settings_for(package)
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "1", wait=False
    )
    _wait(lambda: _port_open(server.port), timeout=30)
    for _ in range(3):
        ready = requests.get(f"{server.url}/v2/health/ready", timeout=5)
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        assert requests.get(f"{server.url}/v2/health/live", timeout=5).json() == {"live": True}
        time.sleep(0.1)
    (package / "GO").write_text("")
    _wait(lambda: requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200, timeout=20)
    response = requests.get(f"{server.url}/api/predict_sample", params={"filename": "red.png"}, timeout=10)
    assert response.status_code == 200


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
