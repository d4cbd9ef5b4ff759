"""``modelhub serve`` at start-up: a port in use, warm-up failures, the unverified warning, a missing package."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import FAKE_INFERENCE, modelhub_command

from modelhub.errors import ConfigError
from modelhub.settings import load_settings
from modelhubapi.service import build_api

RAISES_AT_WARM_UP = (
    FAKE_INFERENCE
    + """

class Model(Model):
    def infer(self, input):
        raise RuntimeError("secret internal detail /srv/weights")
"""
)


def serve(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [modelhub_command(), "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MODELHUB_LOG_LEVEL": "info", **(env or {})},
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr.split("modelhub: error:")[-1], result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("modelhub: error: ")
    return line


def test_a_port_in_use_is_one_line_before_anything_loads() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = serve("--host", "127.0.0.1", "--port", str(port))
        assert last_line(result) == f"modelhub: error: port {port} is already in use (on 127.0.0.1)"
        assert result.stderr.strip().splitlines() == [last_line(result)]  # nothing was loaded or logged
        assert time.monotonic() - started < 20


def test_a_warm_up_sample_over_the_pixel_limit_is_named(int8_model: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_api(load_settings({"model_file": str(int8_model), "max_image_pixels": 1000}, environ={}))
    message = info.value.message
    assert message.startswith("the warm-up prediction on the sample sample_data/")
    assert "over the limit of 1000 pixels (MODELHUB_MAX_IMAGE_PIXELS)" in message


def test_a_model_raising_at_warm_up_says_so_without_internals(fake_package: Callable[..., Path]) -> None:
    package = fake_package("raises_warm_up", inference=RAISES_AT_WARM_UP)
    (package / "model" / "fake.onnx").write_bytes(b"fake")
    result = serve("--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--port", "1")
    line = last_line(result)
    assert line == (
        "modelhub: error: the warm-up prediction on the sample sample_data/blue.jpg failed: the model "
        "raised RuntimeError (its traceback is logged above)"
    )
    assert "server log" not in line and "this input" not in line


@pytest.mark.server
def test_an_unverified_file_is_warned_of_once_per_serve(
    fake_package: Callable[..., Path], start_server: Callable[..., Any]
) -> None:
    package = fake_package("unverified")
    (package / "model" / "fake.onnx").write_bytes(b"fake")
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "2"
    )
    deadline = time.monotonic() + 30
    while server.log().count("ready in") < 3:  # the start-up check and both workers have loaded the model
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    warnings = [line for line in server.log().splitlines() if "WARNING" in line and "UNVERIFIED" in line]
    assert len(warnings) == 1, server.log()


def test_a_missing_package_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-editable ``pip install .``: the default root is the folder above site-packages."""
    from modelhubserve import cli

    from modelhub import settings

    monkeypatch.setattr(settings, "_CHECKOUT_ROOT", tmp_path / "lib" / "python3.11")
    for name in ("MODELHUB_ROOT", "MODELHUB_CONTRIB_DIR"):
        monkeypatch.delenv(name, raising=False)
    for command in (["predict", "x.png"], ["serve", "--port", "1"], ["fetch"]):
        assert cli.main(command) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.startswith(
            f"modelhub: error: no contributor package at {tmp_path}/lib/python3.11/contrib_src: "
            f"set MODELHUB_ROOT to your clone of the repository"
        ), line
