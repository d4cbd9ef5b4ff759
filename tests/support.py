"""Helpers shared by the tests (fixtures live in conftest.py): paths, ports, a server process."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRIB_DIR = REPO_ROOT / "contrib_src"
SAMPLES_DIR = CONTRIB_DIR / "sample_data"
MODELS_DIR = Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO_ROOT.parent / "shared" / "models"))
INT8_MODEL = MODELS_DIR / "mobilenetv2-12-int8.onnx"
FLOAT_MODEL = MODELS_DIR / "mobilenetv2-float-from-int8.onnx"


def service_for(model: Any, package: Path | str, settings: Any = None, source: Any = None) -> Any:
    """The modern ModelHub API (typed errors) of an already built contributor model."""
    from modelhub.config import read_config
    from modelhub.dataplane import DataPlane
    from modelhub.settings import load_settings
    from modelhubapi.service import ModelHubService

    settings = settings or load_settings({}, {})
    return ModelHubService(DataPlane(model, Path(package), read_config(package), settings, source))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelhub_command() -> str:
    """The installed ``modelhub`` console script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("modelhub")
    return str(beside) if beside.exists() else (shutil.which("modelhub") or "modelhub")


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


FAKE_CONFIG: dict[str, Any] = {
    "id": "fake-id",
    "meta": {"name": "FakeNet", "task": "Testing"},
    "publication": {"title": "Fake", "year": 2000},
    "model": {
        "description": "A fake model for engine tests",
        "io": {
            "input": {
                "format": ["image/png", "image/jpeg"],
                "single": {
                    "format": ["image/png", "image/jpeg"],
                    "dim_limits": [{"min": 1, "max": 4}, {"min": 8}, {"min": 8}],
                },
            },
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

FAKE_PROCESSING = """
import numpy as np
from modelhublib.processor import ImageProcessorBase


class FakeProcessor(ImageProcessorBase):
    def _preprocessBeforeConversionToNumpy(self, image):
        return image.convert("RGB")

    def computeOutput(self, inferenceResults):
        means, labels = inferenceResults
        total = float(means.sum()) or 1.0
        return [{"label": label, "probability": float(m) / total} for label, m in zip(labels, means)]
"""
