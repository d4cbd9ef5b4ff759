"""The HTTP layer's own answers are JSON with CORS, and malformed framing is a 4xx, never a 500 (raw sockets)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import ServerProcess, free_port, modelhub_command, wait_ready

pytestmark = [pytest.mark.server, pytest.mark.model]


@pytest.fixture(scope="module")
def server(int8_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for every case (module-scoped: the cases only read)."""
    port = free_port()
    log = tmp_path_factory.mktemp("http") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                modelhub_command(),
                "serve",
                "--model-file",
                str(int8_model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = ServerProcess(process, port, log)
    wait_ready(handle.url, process)
    yield handle
    handle.stop()


def exchange(server: ServerProcess, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= int(lengths[0].split(b":")[1]):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


CASES = [
    ("garbage request line", b"HELLO\r\n\r\n", 400),
    ("HTTP/1.7", b"GET / HTTP/1.7\r\nHost: x\r\n\r\n", 505),
    ("HTTP/1.1 without Host", b"GET /v2/health/live HTTP/1.1\r\n\r\n", 400),
    ("chunk size zz", b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunk size -5", b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", 400),
    (
        "100 KB chunked trailer",
        b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        + b"X-Pad: "
        + b"a" * 100_000
        + b"\r\n\r\n",
        431,
    ),
    ("20 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    ("10 KB URL", b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (
        "declared body over the limit",
        b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
        413,
    ),
]


@pytest.mark.parametrize("name,raw,status", CASES, ids=[case[0] for case in CASES])
def test_http_layer_errors_are_json_with_cors(server: ServerProcess, name: str, raw: bytes, status: int) -> None:
    code, headers, body = exchange(server, raw)
    assert code == status, (name, code, body[:200])
    assert headers["content-type"] == "application/json" and headers["access-control-allow-origin"] == "*"
    message = json.loads(body)["error"]
    assert isinstance(message, str) and len(message) < 300


def test_a_script_name_header_is_ignored(server: ServerProcess) -> None:
    code, _headers, body = exchange(
        server,
        b"GET /api/get_samples HTTP/1.1\r\nHost: h\r\nSCRIPT_NAME: /evil\r\n"
        b"Script-Name: /evil\r\nConnection: close\r\n\r\n",
    )
    assert code == 200 and all(url.startswith("http://h/api/samples/") for url in json.loads(body))


def test_keep_alive_and_pipelining(server: ServerProcess) -> None:
    one = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(one * 3)
        data = b""
        while data.count(b'{"live":true}') < 3:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 3
    assert requests.get(f"{server.url}/api/get_config", timeout=5).json()["meta"]["name"] == "mobilenet"


def test_expect_100_continue(server: ServerProcess) -> None:
    photo = (Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data" / "cat_chelsea.png").read_bytes()
    response = requests.post(
        f"{server.url}/api/predict", files={"file": ("c.png", photo)}, headers={"Expect": "100-continue"}, timeout=10
    )
    assert response.status_code == 200, response.text
