"""Slow clients cannot stop the server: silent, one-byte, dribbling and stalled connections, over real sockets.

Each test holds its attack connections for a bounded time while a normal client keeps asking for
``/v2/health/live`` and ``POST /api/predict``; every probe must be answered (p99 under 1 s), and the
attackers are closed with 408 once their deadline passes.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.server, pytest.mark.model, pytest.mark.slow]

PHOTO = (Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data" / "cat_chelsea.png").read_bytes()
TIMEOUTS = {"MODELHUB_HEADER_TIMEOUT": "3", "MODELHUB_BODY_TIMEOUT": "3", "MODELHUB_MIN_BODY_RATE": "20000"}
BODY_HEAD = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def attack(port: int, kind: str) -> socket.socket:
    sock = connect(port)
    if kind == "one byte":
        sock.sendall(b"G")
    elif kind == "dribbled headers":
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
    elif kind in ("dribbled body", "stalled body"):
        sock.sendall(BODY_HEAD + b"Content-Length: 1000000\r\n\r\n" + b"x" * 1000)
    return sock


class Prober(threading.Thread):
    """A normal client: alternately a health probe and a prediction, every 0.25 s, on new connections."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.results = url, threading.Event(), []  # (seconds, status or error)

    def run(self) -> None:
        while not self.stop.is_set():
            for call in (
                lambda: requests.get(f"{self.url}/v2/health/live", timeout=5),
                lambda: requests.post(f"{self.url}/api/predict?top=1", files={"file": ("c.png", PHOTO)}, timeout=5),
            ):
                started = time.monotonic()
                try:
                    outcome: Any = call().status_code
                except requests.RequestException as error:
                    outcome = type(error).__name__
                self.results.append((time.monotonic() - started, outcome))
            time.sleep(0.25)


def answer_of(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except (TimeoutError, OSError):
        return b""


def hold(server: Any, kinds: dict[str, int], seconds: float) -> tuple[Prober, dict[str, list[socket.socket]]]:
    sockets = {kind: [attack(server.port, kind) for _ in range(count)] for kind, count in kinds.items()}
    prober = Prober(server.url)
    prober.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # the dribblers send a byte now and then, never finishing
        for sock in sockets.get("dribbled headers", []):
            try:
                sock.send(b"X")
            except OSError:
                pass
        for sock in sockets.get("dribbled body", []):
            try:
                sock.send(b"x")
            except OSError:
                pass
        time.sleep(0.5)
    prober.stop.set()
    prober.join(10)
    return prober, sockets


def check_probes(prober: Prober) -> None:
    outcomes = [outcome for _took, outcome in prober.results]
    took = sorted(seconds for seconds, _outcome in prober.results)
    assert len(outcomes) >= 10 and set(outcomes) == {200}, outcomes
    assert took[int(len(took) * 0.99) - 1] < 1.0, took[-5:]


def test_slow_connections_of_every_kind(start_server, int8_model: Path) -> None:
    server = start_server("--model-file", str(int8_model), "--workers", "2", env=TIMEOUTS)
    kinds = {"silent": 64, "one byte": 64, "dribbled headers": 64, "dribbled body": 64, "stalled body": 64}
    prober, sockets = hold(server, kinds, seconds=8)
    check_probes(prober)
    for kind, group in sockets.items():
        answers = [answer_of(sock, 2) for sock in group]
        closed_with_408 = sum(answer.startswith(b"HTTP/1.1 408") for answer in answers)
        assert closed_with_408 == len(group), (kind, closed_with_408, answers[:2])
        assert b'"error"' in answers[0] and b"Access-Control-Allow-Origin: *" in answers[0]
        for sock in group:
            sock.close()


def test_eight_hundred_stalled_bodies(start_server, int8_model: Path) -> None:
    server = start_server(
        "--model-file", str(int8_model), "--workers", "2", env={**TIMEOUTS, "MODELHUB_BODY_TIMEOUT": "20"}
    )
    prober, sockets = hold(server, {"stalled body": 800}, seconds=6)
    check_probes(prober)
    assert requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200
    for sock in sockets["stalled body"]:
        sock.close()


def test_connections_are_bounded(start_server, int8_model: Path) -> None:
    server = start_server(
        "--model-file", str(int8_model), "--workers", "1", env={**TIMEOUTS, "MODELHUB_MAX_CONNECTIONS": "20"}
    )
    time.sleep(1)  # the readiness probe's connection counts until its worker has seen it close
    held = [attack(server.port, "silent") for _ in range(20)]
    time.sleep(0.3)
    extra = connect(server.port)
    extra.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = answer_of(extra, 5)
    assert answer.startswith(b"HTTP/1.1 503") and b"too many open connections" in answer
    for sock in held + [extra]:
        sock.close()
    time.sleep(0.3)
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200
