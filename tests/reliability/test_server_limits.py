"""Upload limits on the production server: oversized bodies are refused without being read."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability_support import make_image

pytestmark = [pytest.mark.server, pytest.mark.model]

LIMIT = 200_000


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), None
    )
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, json.loads(body)


def test_upload_limits(start_server: Callable[..., Any], int8_model: Path) -> None:
    server = start_server(
        "--model-file", str(int8_model), "--workers", "1", env={"MODELHUB_MAX_UPLOAD_BYTES": str(LIMIT)}
    )
    message = {"error": f"the upload is larger than the limit of {LIMIT} bytes"}

    # A declared 10 GB body: answered from the headers, before a byte of it is sent.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        assert read_response(sock) == (413, message)
        assert time.monotonic() - started < 5

    # A chunked body with no length: cut off once it passes the limit, not read to its end.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent, chunk = 0, b"x" * 65536
        try:
            while sent < 50 * LIMIT:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server stopped reading and closed
        status, body = read_response(sock)
        assert status == 413 and body == message
        assert sent < 50 * LIMIT  # it did not take the whole stream

    # A file just over the limit inside a small multipart body.
    response = requests.post(
        f"{server.url}/api/predict", files={"file": ("x.png", make_image() + bytes(LIMIT))}, timeout=30
    )
    assert response.status_code == 413 and response.json() == message

    # A client that sends a big body in one go still gets the 413 (or the server closes; never a 5xx or a hang).
    try:
        response = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", bytes(20 * LIMIT))}, timeout=30)
        assert response.status_code == 413 and response.json() == message
    except requests.ConnectionError:
        pass

    # The worker is fine afterwards.
    ok = requests.post(f"{server.url}/api/predict", files={"file": ("x.png", make_image((64, 64)))}, timeout=30)
    assert ok.status_code == 200
    assert server.process.poll() is None

    # A chunked upload under the limit (no Content-Length) is read to its end and answered like any other.
    boundary = "chunked-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'.encode()
        + make_image((64, 64))
        + f"\r\n--{boundary}--\r\n".encode()
    )
    chunked = requests.post(
        f"{server.url}/api/predict",
        data=(body[i : i + 1000] for i in range(0, len(body), 1000)),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    assert chunked.status_code == 200
    assert chunked.json()["output"][0]["prediction"] == ok.json()["output"][0]["prediction"]
