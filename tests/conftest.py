"""Shared fixtures: where the real models are, fake contributor packages, a real server process."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    FAKE_CONFIG,
    FAKE_INFERENCE,
    FAKE_PROCESSING,
    FLOAT_MODEL,
    INT8_MODEL,
    ServerProcess,
    free_port,
    modelhub_command,
    wait_ready,
)

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


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``modelhub serve`` (the production command) on a free 127.0.0.1 port; stopped at teardown."""
    started: list[ServerProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, wait: bool = True, command: list[str] | None = None
    ) -> ServerProcess:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("MODELHUB_LOG_LEVEL", "info")
        cmd = command or [modelhub_command(), "serve"]
        cmd = [*cmd, "--host", "127.0.0.1", "--port", str(port), *args]
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=tmp_path, start_new_session=True
            )
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


@pytest.fixture
def fake_package(tmp_path: Path) -> Callable[..., Path]:
    """Build a fake contributor package (legacy style by default) in ``tmp_path``."""

    def build(
        name: str = "fake_contrib",
        inference: str = FAKE_INFERENCE,
        config: dict[str, Any] | None = None,
        processing: str = FAKE_PROCESSING,
        samples: bool = True,
    ) -> Path:
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
    def make(
        size: tuple[int, int] = (64, 48), mode: str = "RGB", color: Any = (120, 30, 200), fmt: str = "PNG", **save: Any
    ) -> bytes:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new(mode, size, color).save(buffer, fmt, **save)
        return buffer.getvalue()

    return make
