"""Connections spread evenly over the workers (modelhubserve.balance)."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modelhubserve import balance
from modelhubserve.balance import ConnectionTable


def test_table_points_new_connections_at_the_least_loaded_worker() -> None:
    table = ConnectionTable(size=4)
    me, other = table.claim(os.getpid()), table.claim(os.getppid())
    assert {me, other} == {0, 1}
    assert table.fewest_elsewhere(me) == 0
    table.publish(other, 3)
    table.publish(me, 2)
    assert table.fewest_elsewhere(me) == 3  # the other worker has more: this one keeps accepting
    assert table.fewest_elsewhere(other) == 2
    assert table.fewest_elsewhere(me, capacity=3) is None  # the other is full: not deferred to
    table.release(other)
    assert table.fewest_elsewhere(me) is None  # alone: nobody to defer to


def test_dead_and_silent_workers_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    table = ConnectionTable(size=2)
    me = table.claim(os.getpid())
    gone = table.claim(os.getppid())
    assert table.claim(os.getpid()) == -1  # full
    table.publish(gone, 0)
    assert table.fewest_elsewhere(me) == 0
    later = time.monotonic() + balance.STALE_AFTER + 1
    monkeypatch.setattr(balance.time, "monotonic", lambda: later)
    table.publish(me, 5)
    assert table.fewest_elsewhere(me) is None  # the other stopped refreshing its entry: not waited for
    assert table.claim(12345) == gone  # and its entry can be taken over


def _established_per_process(port: int, pids: list[int]) -> dict[int, int]:
    """Established server-side TCP connections on ``port`` held by each process (from /proc)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state == "01" and inode in inodes:
                counts[inodes[inode]] += 1
    return counts


@pytest.mark.server
def test_simultaneous_keep_alive_clients_are_spread_over_both_workers(
        start_server: Callable[..., Any], fake_package: Callable[..., Path]) -> None:
    package = fake_package("balanced")
    (package / "model" / "fake.onnx").write_bytes(b"the fake model never opens it")
    server = start_server("--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"),
                          "--workers", "2")
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    deadline = time.monotonic() + 20
    while len(children.read_text().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the first worker answers before the second is forked
    workers = [int(pid) for pid in children.read_text().split()]
    assert len(workers) == 2
    time.sleep(0.5)  # both worker loops running
    for attempt in range(3):
        clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(8)]
        for client in clients:
            client.connect()  # all connect before any request: the moment one worker used to take them all
        for client in clients:
            client.request("GET", "/v2/health/live")
            response = client.getresponse()
            assert response.status == 200 and response.read().strip() == b'{"live":true}'
        counts = _established_per_process(server.port, workers)
        for client in clients:
            client.close()
        assert sum(counts.values()) == 8, counts
        assert max(counts.values()) - min(counts.values()) <= 2, f"attempt {attempt}: {counts}"
        time.sleep(0.3)  # the workers notice the closed connections


def _worker(index: int, connections: int) -> balance.BalancedThreadWorker:
    """A ``BalancedThreadWorker`` with just the state it reads, without a gunicorn process around it."""
    worker = balance.BalancedThreadWorker.__new__(balance.BalancedThreadWorker)
    worker.alive, worker.worker_connections, worker.max_keepalived = True, 1000, 996
    worker._index, worker.nr_conns = index, connections
    return worker


@pytest.mark.parametrize(("mine", "theirs", "closes"), [(1, 0, False), (2, 1, False), (2, 0, True), (5, 2, True)])
def test_a_crowded_worker_closes_kept_alive_connections(monkeypatch: pytest.MonkeyPatch, mine: int, theirs: int,
                                                         closes: bool) -> None:
    table = ConnectionTable(size=2)
    me, other = table.claim(os.getpid()), table.claim(os.getppid())
    table.publish(other, theirs)
    monkeypatch.setattr(balance, "_table", table)
    worker = _worker(me, mine)
    assert worker.max_keepalived == (0 if closes else 996)  # 0: gunicorn answers with "Connection: close"
    assert worker._balanced() == (mine <= theirs)  # accepts new connections only while not above the other
