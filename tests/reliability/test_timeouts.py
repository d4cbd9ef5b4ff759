"""MODELHUB_REQUEST_TIMEOUT: an overrunning inference is answered 504, a queued one 503; the worker recovers."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import error_of, fake_app, make_image, write_fake_model_file

from modelhub.errors import InferenceTimeout, NotReady

SLEEPY_INFERENCE = '''
import time
from PIL import Image
from modelhublib.model import ModelBase


class Model(ModelBase):
    """Sleeps as many tenths of a second as the image is wide minus 32 pixels / 10 (width 42 -> 1 s)."""

    def __init__(self):
        self.calls = 0

    def infer(self, input):
        self.calls += 1
        with Image.open(input) as image:
            width = image.width
        time.sleep(max(0, width - 32) / 10)
        return [{"label": "slept", "probability": 1.0}]
'''

CONFIG = {
    "id": "sleepy",
    "meta": {"name": "Sleepy"},
    "publication": {},
    "model": {
        "io": {
            "input": {
                "format": ["image/png"],
                "single": {"format": ["image/png"], "dim_limits": [{"min": 1, "max": 4}, {"min": 8}, {"min": 8}]},
            },
            "output": [{"name": "p", "type": "label_list"}],
        }
    },
}


def sleep_image(seconds: float) -> bytes:
    return make_image((32 + round(seconds * 10), 16))


@pytest.fixture
def sleepy(fake_package: Callable[..., Path]) -> Path:
    root = fake_package("sleepy", inference=SLEEPY_INFERENCE, config=CONFIG, samples=False)
    write_fake_model_file(root)
    return root


def post(client: Any, data: bytes) -> Any:
    return client.post("/api/predict", data={"file": (io.BytesIO(data), "x.png")}, content_type="multipart/form-data")


def test_overrunning_inference_is_504_and_the_worker_recovers(sleepy: Path) -> None:
    app = fake_app(sleepy, request_timeout=0.3)
    with app.test_client() as client:
        started = time.monotonic()
        response = post(client, sleep_image(1.0))
        took = time.monotonic() - started
        assert response.status_code == 504
        assert error_of(response) == "inference took longer than 0.3 s and was abandoned"
        assert took < 0.8
        # While the abandoned call still sleeps, the slot is taken: a new request waits, then gets a 503.
        busy = post(client, sleep_image(0))
        assert busy.status_code == 503
        assert "busy" in error_of(busy)
        time.sleep(0.5)  # the abandoned call ends
        assert post(client, sleep_image(0)).status_code == 200
        assert post(client, sleep_image(0.1)).status_code == 200


def test_python_api_raises_the_same_errors(sleepy: Path) -> None:
    api = fake_app(sleepy, request_timeout=0.2).extensions["modelhub"].api
    with pytest.raises(InferenceTimeout):
        api.predict(sleep_image(0.6))
    with pytest.raises(NotReady):
        api.predict(sleep_image(0))
    time.sleep(0.5)
    assert api.predict(sleep_image(0))["output"][0]["prediction"][0]["label"] == "slept"


def test_concurrent_requests_queue_within_the_timeout(sleepy: Path) -> None:
    app = fake_app(sleepy, request_timeout=2.0)
    results: list[int] = []

    def one() -> None:
        with app.test_client() as client:
            results.append(post(client, sleep_image(0.1)).status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [200] * 6


@pytest.mark.model
def test_real_model_with_a_tiny_timeout(int8_model: Path) -> None:
    """The real onnxruntime session is stopped by its RunOptions and serves again afterwards."""
    from modelhub.dataplane import DataPlane
    from modelhub.settings import load_settings
    from modelhubapi.service import ModelHubService, build_api

    api = build_api(load_settings({"model_file": str(int8_model)}, environ={}))
    sample = api.sample_path("cat_chelsea.png").read_bytes()
    expected = api.predict(sample, top=3)["output"]
    tiny = load_settings({"model_file": str(int8_model), "request_timeout": 0.0005}, environ={})
    hurried = ModelHubService(DataPlane(api.model, api.contrib_src_dir, api.plane.config, tiny, api.source))
    statuses = []  # the request deadline stops the onnxruntime run through its RunOptions
    for _ in range(3):
        try:
            hurried.predict(sample, top=3)
            statuses.append(200)
        except (InferenceTimeout, NotReady) as error:
            statuses.append(error.status)
    assert set(statuses) <= {503, 504} and 504 in statuses, statuses
    time.sleep(0.2)
    assert api.predict(sample, top=3)["output"] == expected  # the shared session recovered


@pytest.mark.server
def test_production_server_answers_504_and_keeps_serving(start_server: Callable[..., Any], sleepy: Path) -> None:
    import requests

    server = start_server(
        "--contrib",
        str(sleepy),
        "--model-file",
        str(sleepy / "model" / "fake.onnx"),
        "--workers",
        "1",
        env={"MODELHUB_REQUEST_TIMEOUT": "0.5"},
    )
    slow = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(1.5))}, timeout=10)
    assert slow.status_code == 504
    assert slow.json() == {"error": "inference took longer than 0.5 s and was abandoned"}
    time.sleep(1.2)
    fast = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(0))}, timeout=10)
    assert fast.status_code == 200
    assert server.process.poll() is None


@pytest.mark.server
def test_a_request_past_its_deadline_stops_holding_its_worker(start_server: Callable[..., Any], sleepy: Path) -> None:
    """An inference that cannot be stopped (a sleeping contributor model) is answered 504 at the deadline; its
    worker is killed and replaced soon after, and the other worker serves everyone meanwhile."""
    import requests

    server = start_server(
        "--contrib",
        str(sleepy),
        "--model-file",
        str(sleepy / "model" / "fake.onnx"),
        "--workers",
        "2",
        env={"MODELHUB_REQUEST_TIMEOUT": "1"},
    )
    started = time.monotonic()
    slow = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(20))}, timeout=30)
    assert slow.status_code == 504 and time.monotonic() - started < 2.5, slow.text
    statuses = []
    while time.monotonic() - started < 9:
        fast = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", sleep_image(0))}, timeout=10)
        statuses.append(fast.status_code)
        time.sleep(0.1)
    assert set(statuses) == {200} and len(statuses) > 20
    assert "could not stop" in server.log()  # its worker retired and was replaced
