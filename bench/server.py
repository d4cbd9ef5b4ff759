"""Start the production server (``modelhub serve``), time its start, read its processes from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelhub_command() -> list[str]:
    """``modelhub`` of this interpreter's environment (the Docker image's command)."""
    script = Path(sys.executable).with_name("modelhub")
    if script.exists():
        return [str(script)]
    found = shutil.which("modelhub")
    return [found] if found else [sys.executable, "-m", "modelhub"]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(x) for x in text.split()]
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return found


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_SIZE / 1e6


def pss_mb(pid: int) -> float | None:
    """Proportional set size: shared pages (inherited from the master) split between the processes."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return None


class Server:
    """``modelhub serve --model-file ... --host 127.0.0.1 --port N`` in a subprocess."""

    def __init__(
        self,
        model_file: Path,
        env: dict[str, str] | None = None,
        extra: list[str] | None = None,
        program: list[str] | None = None,  # the ``modelhub`` command to run; default: this environment's
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            *(program or modelhub_command()),
            "serve",
            "--model-file",
            str(model_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *(extra or []),
        ]
        self._log = tempfile.TemporaryFile()
        environment = {**os.environ, **(env or {})}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=environment)

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _ready_once(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def wait_ready(self, timeout: float = 60.0) -> dict[str, float]:
        """Seconds from the start to the first ready answer, and to every worker ready (from /proc and the probe)."""
        deadline = self.started + timeout
        first = None
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if self._ready_once():
                first = time.perf_counter() - self.started
                break
            time.sleep(0.01)
        if first is None:
            raise RuntimeError(f"the server was not ready within {timeout} s:\n{self.log()[-3000:]}")
        # Every worker is ready once a run of new connections all answer 200 (the kernel hands
        # new connections to idle workers) -- the first such moment is when the last worker loaded.
        streak, all_ready = 0, first
        while streak < 20 and time.perf_counter() < deadline:
            if self._ready_once():
                streak += 1
            else:
                streak, all_ready = 0, time.perf_counter() - self.started
                time.sleep(0.005)
        return {"first_ready_s": first, "all_workers_ready_s": max(first, all_ready)}

    def workers(self) -> list[int]:
        return _children(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds of the server process (the front) and its workers so far."""
        total = 0.0
        for pid in [self.process.pid, *self.workers()]:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

    def memory(self) -> dict[str, Any]:
        workers = self.workers()
        return {
            "master_rss_mb": rss_mb(self.process.pid),
            "worker_rss_mb": [rss_mb(pid) for pid in workers],
            "master_pss_mb": pss_mb(self.process.pid),
            "worker_pss_mb": [pss_mb(pid) for pid in workers],
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
