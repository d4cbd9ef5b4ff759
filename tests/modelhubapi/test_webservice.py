"""modelhubapi.webservice.start serves a model the caller built, as the original engine's start script did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from support import free_port, wait_ready

pytestmark = pytest.mark.server


def test_start_serves_a_prebuilt_model(fake_package, tmp_path) -> None:
    package = fake_package()
    port = free_port()
    script = tmp_path / "start.py"
    script.write_text(
        "import sys\n"
        "from modelhub.contrib import load_model\n"
        "from modelhubapi import webservice\n"
        f"webservice.start(load_model({str(package)!r}), {str(package)!r})\n"
    )
    env = {**os.environ, "MODELHUB_PORT": str(port), "MODELHUB_WORKERS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, timeout=30)
        url = f"http://127.0.0.1:{port}/api/predict_sample?filename=red.png&top=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.load(response)["output"][0]["prediction"][0]["label"] == "red"
    finally:
        process.terminate()
        process.wait(30)
