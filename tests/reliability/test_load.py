"""Load test of the production serving command (``modelhub serve --workers 2``), 127.0.0.1 only.

16 concurrent clients send 2000 requests, valid and invalid uploads mixed.  Required: no 5xx, no
connection error, every valid answer equal to the single-request answer for the same image, no
temporary file left behind, and worker memory after the run within 10 % of after the warm-up.
Then SIGTERM arrives during load: every request in flight still completes.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability_support import SAMPLES_DIR, all_workers_ready, make_image

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.model]

CLIENTS = 16
REQUESTS = 2000
WARM_UP = 300
MAX_SECONDS = 400

SAMPLES = {p.name: p.read_bytes() for p in sorted(SAMPLES_DIR.iterdir()) if p.suffix in (".png", ".jpg")}
INVALID: dict[str, tuple[bytes, int]] = {
    "empty": (b"", 400),
    "text": (b"not an image at all\n" * 10, 415),
    "tiny": (make_image((8, 8)), 422),
    "gif": (make_image((64, 64), fmt="GIF"), 415),
    "truncated": (SAMPLES["coffee_cup.jpg"][:5000], 400),
    "random": (random.Random(1).randbytes(3000), 415),
}


def worker_pids(master: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.append(int(entry))
    return children


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


class Client:
    """One requests session per thread; counts everything that is not a clean answer."""

    def __init__(self, url: str, expected: dict[str, list[str]]) -> None:
        self.url, self.expected = url, expected
        self.local = threading.local()
        self.lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self.problems: list[str] = []

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session  # type: ignore[no-any-return]

    def send(self, kind: str, name: str) -> None:
        data, want = (SAMPLES[name], 200) if kind == "valid" else INVALID[name]
        try:
            response = self.session().post(
                f"{self.url}/api/predict", params={"top": "10"}, files={"file": (name, data)}, timeout=60
            )
            status, body = response.status_code, response.json()
        except (requests.RequestException, ValueError) as error:
            with self.lock:
                self.problems.append(f"{kind} {name}: {type(error).__name__}: {error}")
            return
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status != want:
                self.problems.append(f"{kind} {name}: status {status}, wanted {want}: {body}")
            elif status == 200 and [e["label"] for e in body["output"][0]["prediction"]] != self.expected[name]:
                self.problems.append(f"{name}: labels differ from the single-request answer")
            elif status != 200 and not body.get("error"):
                self.problems.append(f"{name}: error without message")


def workload(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        ("valid", rng.choice(sorted(SAMPLES))) if rng.random() < 0.7 else ("invalid", rng.choice(sorted(INVALID)))
        for _ in range(count)
    ]


def modelhub_entries(folder: Path) -> set[str]:
    return {name for name in os.listdir(folder) if name.startswith("modelhub-")}


def test_load_two_workers(start_server: Callable[..., Any], int8_model: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "server-tmp"
    scratch.mkdir()
    server = start_server(
        "--model-file",
        str(int8_model),
        "--workers",
        "2",
        env={"TMPDIR": str(scratch), "MODELHUB_LOG_LEVEL": "warning", "MODELHUB_GRACEFUL_TIMEOUT": "30"},
    )
    workers = worker_pids(server.process.pid)
    assert len(workers) == 2, workers
    all_workers_ready(server.url)
    # The single-request answers, one request at a time.
    expected = {}
    for name, data in SAMPLES.items():
        response = requests.post(
            f"{server.url}/api/predict", params={"top": "10"}, files={"file": (name, data)}, timeout=60
        )
        assert response.status_code == 200
        expected[name] = [e["label"] for e in response.json()["output"][0]["prediction"]]

    client = Client(server.url, expected)
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda item: client.send(*item), workload(WARM_UP, 1)))
    assert client.problems == []
    rss_warm = rss_kib(workers)
    entries_before = modelhub_entries(scratch)
    files_before = sorted(os.listdir(scratch))

    client = Client(server.url, expected)
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda item: client.send(*item), workload(REQUESTS, 2)))
    took = time.monotonic() - started
    assert took < MAX_SECONDS
    assert sum(client.statuses.values()) == REQUESTS, client.statuses
    assert client.problems == [], client.problems[:10]
    assert not any(status >= 500 for status in client.statuses)
    assert worker_pids(server.process.pid) == workers  # no worker died or was restarted
    rss_after = rss_kib(workers)
    assert rss_after <= rss_warm * 1.10, (rss_warm, rss_after)
    assert modelhub_entries(scratch) == entries_before == set()
    assert sorted(os.listdir(scratch)) == files_before
    print(
        f"\n{REQUESTS} requests, {CLIENTS} clients: {took:.1f} s, {REQUESTS / took:.0f} req/s, "
        f"statuses {dict(sorted(client.statuses.items()))}, worker RSS {rss_warm} -> {rss_after} KiB"
    )

    # SIGTERM while 2 x CLIENTS requests are in flight: they all finish.
    client = Client(server.url, expected)
    with ThreadPoolExecutor(CLIENTS * 2) as pool:
        futures = [pool.submit(client.send, "valid", name) for name in list(SAMPLES) * (CLIENTS * 2 // len(SAMPLES))]
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        for future in futures:
            future.result()
    assert client.problems == [], client.problems[:10]
    assert client.statuses == {200: len(futures)}
    assert server.process.wait(40) == 0
    assert modelhub_entries(scratch) == set()
    assert "Traceback" not in server.log()
