"""Drive the server with wrk (an external load generator) and a multipart POST body (post.lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).resolve().with_name("post.lua")


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def wrk_version() -> str:
    result = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip() if (result.stdout or result.stderr) else "?"


def run_wrk(url: str, image: Path, connections: int, seconds: float, server: Any = None) -> dict[str, Any]:
    """One wrk run: requests/s, latency percentiles (ms), errors, and server CPU seconds per request."""
    command = [wrk_path(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(LUA_SCRIPT), url]
    env = {**os.environ, "BENCH_IMAGE": str(image)}
    cpu_before = server.cpu_seconds() if server else 0.0
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=seconds + 60)
    cpu_after = server.cpu_seconds() if server else 0.0
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    requests = raw["requests"]
    return {
        "connections": connections,
        "requests": requests,
        "requests_per_s": requests / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "http_errors": raw["http_errors"],
        "socket_errors": socket_errors,
        "errors": raw["http_errors"] + socket_errors,
        "server_cpu_ms_per_request": (cpu_after - cpu_before) / requests * 1000 if requests else None,
    }


def multipart_body(data: bytes, filename: str, boundary: str) -> bytes:
    """A multipart/form-data body with ``data`` as the field ``file`` (what post.lua sends too)."""
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def post_image(url: str, image: Path, timeout: float = 60.0) -> tuple[int, float, dict[str, Any]]:
    """One multipart POST with the standard library; (status, seconds end to end, parsed body)."""
    boundary = uuid.uuid4().hex
    body = multipart_body(image.read_bytes(), image.name, boundary)
    request = urllib.request.Request(
        url + "/api/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = response.read()
        status = response.status
    return status, time.perf_counter() - start, json.loads(payload)
