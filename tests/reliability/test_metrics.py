"""GET /metrics through the real server with two workers: the counts are the server's, whichever worker answers."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from reliability_support import all_workers_ready
from support import sha256_of

pytestmark = [pytest.mark.server, pytest.mark.model]

PHOTO = (Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data" / "cat_chelsea.png").read_bytes()
CLOSE = {"Connection": "close"}  # a new connection for each request: the workers take turns


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{url}/metrics", headers=CLOSE, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def count(found, route: str, method: str, status: int) -> float:
    return found.get(
        ("modelhub_http_requests_total", (("method", method), ("route", route), ("status", str(status)))), 0.0
    )


def worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def upload(url: str, data: bytes) -> int:
    return requests.post(
        f"{url}/api/predict?top=1", files={"file": ("x.png", data)}, headers=CLOSE, timeout=20
    ).status_code


def too_large(port: int) -> bytes:
    """A request whose Content-Length is over the limit: the front answers 413 itself."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
        return sock.recv(65536)


def test_metrics_count_every_request_of_both_workers(start_server, int8_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    server = start_server(
        "--model-file", str(int8_model), "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    )
    all_workers_ready(server.url)
    sent = {
        ("/api/predict", "POST", 200): 0,
        ("/api/predict", "POST", 415): 0,
        ("/api/predict_sample", "GET", 200): 0,
        ("unmatched", "GET", 404): 0,
    }
    for _ in range(3):
        assert upload(server.url, PHOTO) == 200
        sent["/api/predict", "POST", 200] += 1
    for _ in range(2):
        assert upload(server.url, b"these bytes are no image") == 415
        sent["/api/predict", "POST", 415] += 1
    for _ in range(2):
        answer = requests.get(f"{server.url}/api/predict_sample?filename=cat_chelsea.png", headers=CLOSE, timeout=20)
        assert answer.status_code == 200
        sent["/api/predict_sample", "GET", 200] += 1
    assert requests.get(f"{server.url}/no/such/route", headers=CLOSE, timeout=10).status_code == 404
    sent["unmatched", "GET", 404] += 1
    assert too_large(server.port).startswith(b"HTTP/1.1 413")
    found = scrape(server.url)
    for (route, method, status), number in sent.items():
        assert count(found, route, method, status) == number, (route, method, status)
    assert count(found, "front", "POST", 413) == 1  # answered by the front, counted by the front
    assert count(found, "/v2/health/ready", "GET", 200) >= 30  # all_workers_ready's probes, also the front's
    predictions = sent["/api/predict", "POST", 200] + sent["/api/predict_sample", "GET", 200]
    for stage in ("decode", "preprocess", "queue", "inference", "postprocess"):
        assert found[("modelhub_stage_seconds_count", (("stage", stage),))] == predictions, stage
    assert found[("modelhub_batch_size_count", ())] == predictions
    (info,) = [dict(labels) for name, labels in found if name == "modelhub_model_info"]
    assert info["sha256"] == sha256_of(int8_model) and info["file"] == int8_model.name
    assert found[("modelhub_ready", ())] == 1 and found[("modelhub_build_info", (("version", "1.0.0"),))] == 1
    assert found[("modelhub_model_load_seconds", ())] > 0 and found[("modelhub_model_warmup_seconds", ())] > 0
    assert found[("modelhub_http_requests_in_flight", ())] == 1  # the scrape, summed over live workers
    workers = worker_pids(server.process.pid)
    served = {int(m.group(1)) for m in (re.fullmatch(r"counter_(\d+)\.db", p.name) for p in folder.iterdir()) if m}
    assert set(workers) <= served  # both workers answered some of the requests counted above

    # A worker that dies: its live gauges go (mark_process_dead), the counts it made stay.
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in worker_pids(server.process.pid) or len(worker_pids(server.process.pid)) < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.1)
    all_workers_ready(server.url)
    assert not list(folder.glob(f"gauge_live*_{victim}.db"))
    after = scrape(server.url)
    for (route, method, status), number in sent.items():
        assert count(after, route, method, status) == number, (route, method, status)
    assert after[("modelhub_http_requests_in_flight", ())] == 1 and after[("modelhub_ready", ())] == 1


def test_serve_makes_and_removes_its_metrics_folder(start_server, int8_model: Path) -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    server = start_server("--model-file", str(int8_model), "--workers", "1")
    match = re.search(r"metrics: every process writes its values to (\S+)", server.log())
    assert match, server.log()
    folder = Path(match.group(1))
    assert folder.is_dir() and upload(server.url, PHOTO) == 200
    assert server.stop() == 0
    assert not folder.exists()


def test_metrics_off(start_server, int8_model: Path) -> None:
    server = start_server("--model-file", str(int8_model), "--workers", "1", env={"MODELHUB_METRICS": "off"})
    assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 404
    assert "metrics: every process" not in server.log()
