"""Access log lines and X-Request-ID through the real server: one line per request, IDs echoed and logged."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
import requests
from reliability_support import FAKE_INFERENCE_PREFIX, write_fake_model_file

pytestmark = [pytest.mark.server, pytest.mark.model]

ACCESS = re.compile(
    r"\S+ \S+ INFO modelhub\.access: (?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) (?P<bytes>\d+) "
    r"(?P<ms>\d+\.\d\d)ms id=(?P<id>[A-Za-z0-9._-]{1,128}) client=(?P<client>\S+)"
)
HEX_ID = re.compile(r"[0-9a-f]{32}")
PHOTO = (Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data" / "cat_chelsea.png").read_bytes()

LOGGING_MODEL = (
    FAKE_INFERENCE_PREFIX
    + """
import logging


class Model(LegacyModel):
    def infer(self, input):
        logging.getLogger("fakemodel").warning("the model says hello")
        return super().infer(input)
"""
)


def wait_for(server, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log()


def access_lines(log: str) -> list[dict[str, str]]:
    return [match.groupdict() for match in map(ACCESS.search, log.splitlines()) if match]


def test_one_parseable_line_per_request_and_request_ids(start_server, int8_model: Path) -> None:
    server = start_server("--model-file", str(int8_model), "--workers", "1")
    given = requests.get(f"{server.url}/api/get_config", headers={"X-Request-ID": "client-id_1.2"}, timeout=10)
    assert given.status_code == 200 and given.headers["X-Request-ID"] == "client-id_1.2"
    upload = requests.post(f"{server.url}/api/predict?top=1", files={"file": ("c.png", PHOTO)}, timeout=20)
    made = upload.headers["X-Request-ID"]
    assert upload.status_code == 200 and HEX_ID.fullmatch(made)
    for bad in ("has space", "x" * 129, "semi;colon", ""):
        answer = requests.get(f"{server.url}/no/such/route", headers={"X-Request-ID": bad}, timeout=10)
        assert answer.status_code == 404 and HEX_ID.fullmatch(answer.headers["X-Request-ID"]), bad
    live = requests.get(f"{server.url}/v2/health/live", headers={"X-Request-ID": "probe-7"}, timeout=10)
    assert live.headers["X-Request-ID"] == "probe-7"  # the front's own answers carry it too
    lines = {line["id"]: line for line in access_lines(wait_for(server, "id=probe-7"))}
    assert lines["client-id_1.2"]["method"] == "GET" and lines["client-id_1.2"]["path"] == "/api/get_config"
    assert lines["client-id_1.2"]["status"] == "200" and int(lines["client-id_1.2"]["bytes"]) == len(given.content)
    line = lines[made]
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/predict", "200")  # no query string
    assert int(line["bytes"]) == len(upload.content) and float(line["ms"]) > 0 and line["client"] == "127.0.0.1"
    assert lines["probe-7"]["path"] == "/v2/health/live"
    assert "has space" not in server.log() and "semi;colon" not in server.log()


def test_errors_of_the_http_layer_are_logged_with_an_id(start_server, int8_model: Path) -> None:
    server = start_server("--model-file", str(int8_model), "--workers", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nX-Request-ID: big-1\r\nContent-Length: 999999999\r\n\r\n"
        )
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413") and "X-Request-ID: big-1" in head
    (line,) = [line for line in access_lines(wait_for(server, "id=big-1")) if line["id"] == "big-1"]
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/predict", "413")


def test_json_logs_and_the_request_id_in_the_workers_lines(start_server, fake_package) -> None:
    package = fake_package("logging_model", inference=LOGGING_MODEL)
    write_fake_model_file(package)
    server = start_server(
        "--contrib",
        str(package),
        "--model-file",
        str(package / "model" / "fake.onnx"),
        "--workers",
        "1",
        env={"MODELHUB_LOG_FORMAT": "json"},
    )
    photo = (package / "sample_data" / "red.png").read_bytes()
    answer = requests.post(
        f"{server.url}/api/predict",
        files={"file": ("x.png", photo)},
        headers={"X-Request-ID": "json-req-1"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "json-req-1"
    log = wait_for(server, '"request_id":"json-req-1","method"')
    entries = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    assert {"time", "level", "logger", "message", "pid"} <= set(entries[0])
    hello = [entry for entry in entries if entry["message"] == "the model says hello"]
    (said,) = [entry for entry in hello if "request_id" in entry]  # the warm-ups (preflight, worker) have none
    assert said["request_id"] == "json-req-1" and said["logger"] == "fakemodel" and said["level"] == "WARNING"
    assert len(hello) >= 2
    (access,) = [entry for entry in entries if entry["logger"] == "modelhub.access" and entry["path"] == "/api/predict"]
    assert access["request_id"] == "json-req-1" and access["status"] == 200 and access["method"] == "POST"
    assert access["bytes"] == len(answer.content) and access["duration_ms"] > 0 and access["client"] == "127.0.0.1"
    assert said["pid"] == access["pid"] != server.process.pid  # the worker that answered wrote both
    pool = [entry for entry in entries if entry["logger"] == "modelhub.pool"]
    assert pool and all("request_id" not in entry for entry in pool)


def test_the_text_format_names_the_request_in_the_workers_lines(start_server, fake_package) -> None:
    package = fake_package("logging_model", inference=LOGGING_MODEL)
    write_fake_model_file(package)
    server = start_server(
        "--contrib",
        str(package),
        "--model-file",
        str(package / "model" / "fake.onnx"),
        "--workers",
        "1",
        env={"MODELHUB_ACCESS_LOG": "off"},
    )
    photo = (package / "sample_data" / "red.png").read_bytes()
    requests.post(
        f"{server.url}/api/predict", files={"file": ("x.png", photo)}, headers={"X-Request-ID": "t-1"}, timeout=10
    )
    log = wait_for(server, "[request t-1]")
    assert any(line.endswith("the model says hello [request t-1]") for line in log.splitlines()), log
    assert "modelhub.access" not in log  # switched off
