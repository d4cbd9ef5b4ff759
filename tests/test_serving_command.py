"""The Docker image's exact serving command, run outside Docker and called over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from support import REPO_ROOT, ServerProcess, free_port, modelhub_command, sha256_of, wait_ready

pytestmark = [pytest.mark.server, pytest.mark.model]


def image_cmd_and_env() -> tuple[list[str], dict[str, str], list[str]]:
    """The image's CMD, its ENV and its HEALTHCHECK command, read from the Dockerfile."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    (cmd_line,) = [line for line in joined.splitlines() if line.startswith("CMD ")]
    (health_line,) = [line for line in joined.splitlines() if line.startswith("HEALTHCHECK ")]
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return json.loads(cmd_line[4:]), env, json.loads(health_line.split(" CMD ", 1)[1])


def healthcheck(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )


def test_image_command_serves_predictions(tmp_path: Path, int8_model: Path) -> None:
    cmd, image_env, health = image_cmd_and_env()
    assert cmd == ["modelhub", "serve"]  # no --host/--port: MODELHUB_* (docker run -e) decide
    assert (image_env["MODELHUB_HOST"], image_env["MODELHUB_PORT"]) == ("0.0.0.0", "80")
    # Outside the image: the same command and settings, except what `docker run -e` would change: the server
    # binds 127.0.0.1 on a free port (tests never bind 0.0.0.0 or port 80), the checkout replaces
    # /srv/modelhub, and the model file is the shared int8 graph (the image has the fetched one) with its hash.
    port = free_port()
    env = {key: value for key, value in image_env.items() if key.startswith(("MODELHUB_", "PYTHON"))}
    env.update(
        MODELHUB_ROOT=str(REPO_ROOT),
        MODELHUB_MODEL_FILE=str(int8_model),
        MODELHUB_MODEL_SHA256=sha256_of(int8_model),
        MODELHUB_HOST="127.0.0.1",
        MODELHUB_PORT=str(port),
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [modelhub_command(), *cmd[1:]],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=tmp_path,
            start_new_session=True,
        )
    server = ServerProcess(process, port, log_path)
    try:
        wait_ready(server.url, process)
        check_predictions(server, int8_model)
        ready = healthcheck(health, env)
        assert ready.returncode == 0 and f"127.0.0.1:{port}" in ready.stdout, ready.stdout + ready.stderr
    finally:
        assert server.stop() == 0, server.log()
    unhealthy = healthcheck(health, env)
    assert unhealthy.returncode == 1 and "not ready" in unhealthy.stdout, unhealthy.stdout + unhealthy.stderr


def check_predictions(server: ServerProcess, int8_model: Path) -> None:
    photo = (REPO_ROOT / "contrib_src" / "sample_data" / "cat_chelsea.png").read_bytes()
    boundary = "modelhubtestboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cat.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{server.url}/api/predict?top=3",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        result = json.load(response)
    labels = [entry["label"] for entry in result["output"][0]["prediction"]]
    assert labels[0] in {"Egyptian cat", "tabby, tabby cat", "tiger cat"}, labels
    with urllib.request.urlopen(f"{server.url}/api/get_config", timeout=10) as response:
        config = json.load(response)
    assert config["model"]["file"]["verified"] is True
    assert config["model"]["file"]["sha256"] == sha256_of(int8_model)
    log = server.log()
    assert "modelhub server listening" in log.lower() and "development server" not in log.lower()
