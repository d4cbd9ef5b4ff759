"""The Docker image's exact serving command, run outside Docker and called over HTTP."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from support import REPO_ROOT, modelhub_command, sha256_of

pytestmark = [pytest.mark.server, pytest.mark.model]


def image_cmd_and_env() -> tuple[list[str], dict[str, str]]:
    text = (REPO_ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    (cmd_line,) = [line for line in joined.splitlines() if line.startswith("CMD ")]
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return json.loads(cmd_line[4:]), env


def test_image_command_serves_predictions(start_server, int8_model: Path) -> None:
    cmd, image_env = image_cmd_and_env()
    assert cmd[:2] == ["modelhub", "serve"]
    # Outside the image: the same command and settings, except that the server binds 127.0.0.1 on a free
    # port (tests never bind 0.0.0.0 or port 80), the checkout replaces /srv/modelhub, and the model file
    # is the shared int8 graph (the image has the fetched one) with its expected hash.
    args = cmd[2:]
    for flag in ("--host", "--port"):
        index = args.index(flag)
        del args[index : index + 2]
    env = {key: value for key, value in image_env.items() if key.startswith(("MODELHUB_", "PYTHON"))}
    env.update(
        MODELHUB_ROOT=str(REPO_ROOT), MODELHUB_MODEL_FILE=str(int8_model), MODELHUB_MODEL_SHA256=sha256_of(int8_model)
    )
    env.pop("MODELHUB_HOST"), env.pop("MODELHUB_PORT")
    server = start_server(*args, env=env, command=[modelhub_command(), "serve"])
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
