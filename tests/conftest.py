"""Shared fixtures: where the real models are, fake contributor packages, a real server process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRIB_DIR = REPO_ROOT / "contrib_src"
SAMPLES_DIR = CONTRIB_DIR / "sample_data"
MODELS_DIR = Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO_ROOT.parent / "shared" / "models"))
INT8_MODEL = MODELS_DIR / "mobilenetv2-12-int8.onnx"
FLOAT_MODEL = MODELS_DIR / "mobilenetv2-float-from-int8.onnx"

for folder in (REPO_ROOT / "framework",):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


REQUIRE_ALL = os.environ.get("MODELHUB_REQUIRE_ALL_TESTS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (MODELHUB_REQUIRE_ALL_TESTS=1) a skipped model, server or browser test is a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    marked = any(item.get_closest_marker(name) for name in ("model", "server", "browser"))
    if REQUIRE_ALL and report.skipped and marked:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real model file {path} not available (set MODELHUB_TEST_MODELS_DIR)")
    return path


@pytest.fixture(scope="session")
def int8_model() -> Path:
    return _need(INT8_MODEL)


@pytest.fixture(scope="session")
def float_model() -> Path:
    return _need(FLOAT_MODEL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelhub_command() -> str:
    """The installed ``modelhub`` console script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("modelhub")
    return str(beside) if beside.exists() else (shutil.which("modelhub") or "modelhub")


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def wait_ready(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not ready within {timeout} s")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``modelhub serve`` (the production command) on a free 127.0.0.1 port; stopped at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True,
              command: list[str] | None = None) -> ServerProcess:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("MODELHUB_LOG_LEVEL", "info")
        cmd = command or [modelhub_command(), "serve"]
        cmd = [*cmd, "--host", "127.0.0.1", "--port", str(port), *args]
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=full_env,
                                       cwd=tmp_path, start_new_session=True)
        server = ServerProcess(process, port, log_path)
        started.append(server)
        if wait:
            try:
                wait_ready(server.url, process)
            except RuntimeError as error:
                raise RuntimeError(f"{error}\n--- server log ---\n{server.log()}") from None
        return server

    yield start
    for server in started:
        server.stop()


# -- fake contributor packages ---------------------------------------------------------

FAKE_CONFIG: dict[str, Any] = {
    "id": "fake-id",
    "meta": {"name": "FakeNet", "task": "Testing"},
    "publication": {"title": "Fake", "year": 2000},
    "model": {
        "description": "A fake model for engine tests",
        "io": {
            "input": {"format": ["image/png", "image/jpeg"],
                      "single": {"format": ["image/png", "image/jpeg"],
                                 "dim_limits": [{"min": 1, "max": 4}, {"min": 8}, {"min": 8}]}},
            "output": [{"name": "probabilities", "type": "label_list", "description": "fake classes"}],
        },
    },
    "modelhub": {"top": 2, "sort": True},
}

FAKE_INFERENCE = '''
import json
import numpy as np
from modelhublib.model import ModelBase
from fakeprocessing import FakeProcessor


class Model(ModelBase):
    """A legacy-style model: relative paths, sibling import, file path input."""

    def __init__(self):
        self._config = json.load(open("model/config.json"))
        self._labels = open("model/labels.txt").read().split()
        self._processor = FakeProcessor(self._config)

    def infer(self, input):
        array = self._processor.loadAndPreprocess(input)
        return self._processor.computeOutput((array.mean(axis=(0, 2, 3)), self._labels))
'''

FAKE_PROCESSING = '''
import numpy as np
from modelhublib.processor import ImageProcessorBase


class FakeProcessor(ImageProcessorBase):
    def _preprocessBeforeConversionToNumpy(self, image):
        return image.convert("RGB")

    def computeOutput(self, inferenceResults):
        means, labels = inferenceResults
        total = float(means.sum()) or 1.0
        return [{"label": label, "probability": float(m) / total} for label, m in zip(labels, means)]
'''


@pytest.fixture
def fake_package(tmp_path: Path) -> Callable[..., Path]:
    """Build a fake contributor package (legacy style by default) in ``tmp_path``."""

    def build(name: str = "fake_contrib", inference: str = FAKE_INFERENCE, config: dict[str, Any] | None = None,
              processing: str = FAKE_PROCESSING, samples: bool = True) -> Path:
        root = tmp_path / name
        (root / "model").mkdir(parents=True)
        (root / "license").mkdir()
        (root / "sample_data").mkdir()
        (root / "model" / "config.json").write_text(json.dumps(config or FAKE_CONFIG))
        (root / "model" / "labels.txt").write_text("red green blue")
        (root / "license" / "model").write_text("fake model licence")
        (root / "license" / "sample_data").write_text("fake sample licence")
        (root / "inference.py").write_text(inference)
        (root / "fakeprocessing.py").write_text(processing)
        if samples:
            from PIL import Image

            Image.new("RGB", (16, 12), (200, 10, 10)).save(root / "sample_data" / "red.png")
            Image.new("RGB", (16, 12), (10, 10, 200)).save(root / "sample_data" / "blue.jpg", quality=95)
        return root

    return build


@pytest.fixture
def png_bytes() -> Callable[..., bytes]:
    def make(size: tuple[int, int] = (64, 48), mode: str = "RGB", color: Any = (120, 30, 200), fmt: str = "PNG",
             **save: Any) -> bytes:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new(mode, size, color).save(buffer, fmt, **save)
        return buffer.getvalue()

    return make
