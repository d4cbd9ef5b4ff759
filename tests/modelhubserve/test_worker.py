"""The serving worker: back-to-back requests on one connection, pipelining, no starvation."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

BOUNDARY = "worker-test-boundary"


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 10, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload_body() -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + _photo() + f"\r\n--{BOUNDARY}--\r\n".encode()


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def one_thread_server(start_server: Callable[..., Any], fake_package: Callable[..., Path]) -> Any:
    package = fake_package("worker")
    (package / "model" / "fake.onnx").write_bytes(b"the fake model never opens it")
    return start_server("--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"),
                        "--workers", "1", "--threads", "1")


def _top_label(response: http.client.HTTPResponse) -> str:
    body = json.loads(response.read())
    return str(body["output"][0]["prediction"][0]["label"]) if response.status == 200 else f"{response.status}"


@pytest.mark.server
def test_back_to_back_and_pipelined_requests_on_one_connection(one_thread_server: Any) -> None:
    client = http.client.HTTPConnection("127.0.0.1", one_thread_server.port, timeout=10)
    body = _upload_body()
    labels = []
    for _ in range(30):
        client.request("POST", "/api/predict?top=1", body=body, headers=HEADERS)
        labels.append(_top_label(client.getresponse()))
    assert labels == ["blue"] * 30
    client.close()

    request = (f"POST /api/predict?top=1 HTTP/1.1\r\nHost: x\r\nContent-Type: {HEADERS['Content-Type']}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", one_thread_server.port), timeout=10) as raw:
        raw.sendall(request * 3)  # three requests in one write: the later ones arrive read ahead
        reader = raw.makefile("rb")
        answers = [_read_response(reader) for _ in range(3)]
        assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 3
        assert all(json.loads(payload)["output"][0]["prediction"][0]["label"] == "blue" for _, payload in answers)


def _read_response(reader: Any) -> tuple[bytes, bytes]:
    """Status line and body of one response with a Content-Length, read from a raw socket file."""
    status = reader.readline().strip()
    length = 0
    while (line := reader.readline().strip()):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return status, reader.read(length)


@pytest.mark.server
def test_a_busy_connection_does_not_starve_another(one_thread_server: Any) -> None:
    """With one request thread, a client sending request after request must not keep it to itself."""
    body = _upload_body()
    stop = threading.Event()
    busy_count = [0]

    def busy() -> None:
        client = http.client.HTTPConnection("127.0.0.1", one_thread_server.port, timeout=10)
        while not stop.is_set():
            client.request("POST", "/api/predict?top=1", body=body, headers=HEADERS)
            assert _top_label(client.getresponse()) == "blue"
            busy_count[0] += 1
        client.close()

    hog = threading.Thread(target=busy)
    hog.start()
    try:
        while busy_count[0] < 5:
            time.sleep(0.01)
        other = http.client.HTTPConnection("127.0.0.1", one_thread_server.port, timeout=10)
        started = time.monotonic()
        other.request("POST", "/api/predict?top=1", body=body, headers=HEADERS)
        assert _top_label(other.getresponse()) == "blue"
        waited = time.monotonic() - started
        other.close()
    finally:
        stop.set()
        hog.join(15)
    assert waited < 1.0, f"the second connection waited {waited:.2f} s behind the busy one"
