"""The single-node server against Ray Serve on this machine, in one run; and Ray's proxy cost per request.

    python bench/ray.py [--seconds 8] [--connections 2,4] [--model int8|float]   # needs root (unshare) and wrk

Runs itself inside a private network and PID namespace (``unshare --net --pid``, loopback up), so that
every port Ray opens is on 127.0.0.1 and no process outlives the run.  In turn, with wrk posting the
640x480 JPEG of bench/photos.py to ``/api/predict`` (bench/post.lua) for ``--seconds`` per point:

- ``server``: ``modelhub serve --workers 2`` (the single-node server: two processes of one thread);
- ``ray 1x2``: a Ray head of 2 CPUs, ``modelhub serve --engine ray --replicas 1 --replica-cpus 2``;
- ``ray 2x1``: the same head, ``--replicas 2 --replica-cpus 1``.

For each: requests/s, latency percentiles, errors, and CPU per request of every process in the
namespace (server, or Ray's head, proxy, controller and replicas) from /proc.  The proxy's cost is
``GET /v2/health/live`` (no model work) at 1 connection, ray 2x1 against the server: latency and CPU.
Prints a table and writes bench/results/ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import load  # noqa: E402
import photos  # noqa: E402
import server as server_mod  # noqa: E402

REPO = BENCH_DIR.parent
MODELS = {"int8": "mobilenetv2-12-int8.onnx", "float": "mobilenetv2-float-from-int8.onnx"}
BIN = Path(sys.executable).parent
HEAD_PORT, PORT = 6391, 8090
# wrk script: GET /v2/health/live, with post.lua's done() report
GET_LUA = (
    'wrk.method = "GET"\nwrk.path = "/v2/health/live"\nfunction done'
    + (BENCH_DIR / "post.lua").read_text().split("function done", 1)[1]
)


def namespace_cpu() -> float:
    """CPU seconds of every process of the namespace but this one (all of Ray, or the server)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                total += server_mod.cpu_seconds(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return total


class Namespace:
    """What run_wrk asks of a server: CPU seconds, here of the whole namespace."""

    def cpu_seconds(self) -> float:
        return namespace_cpu()


def ready(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"not ready within {timeout} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def health_wrk(seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(GET_LUA)
    command = [load.wrk_path(), "-t1", "-c1", f"-d{seconds:g}s", "-s", script.name, f"http://127.0.0.1:{PORT}"]
    before = namespace_cpu()
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = namespace_cpu()
    os.unlink(script.name)
    raw = json.loads(next(x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")).split(" ", 1)[1])
    return {
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "cpu_ms_per_request": (after - before) / raw["requests"] * 1000,
        "errors": raw["http_errors"],
    }


def measure(name: str, image: Path, args: argparse.Namespace) -> dict[str, Any]:
    ready(180)
    url = f"http://127.0.0.1:{PORT}/api/predict"
    load.run_wrk(url, image, 2, 2, Namespace())  # warm-up
    before = namespace_cpu()
    time.sleep(4)
    idle = (namespace_cpu() - before) / 4  # CPU seconds per second that the stack spends with no request
    points = [load.run_wrk(url, image, c, args.seconds, Namespace()) for c in args.connections]
    for point in points:  # CPU per request less what the stack spends idle meanwhile
        point["net_cpu_ms_per_request"] = (
            point["server_cpu_ms_per_request"] - idle * args.seconds / point["requests"] * 1000
        )
    return {"name": name, "idle_cpu": idle, "predict": points, "health": health_wrk(args.seconds / 2)}


def inside(args: argparse.Namespace) -> None:
    model = Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO.parent / "shared" / "models")) / MODELS[args.model]
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    image = photos.make_photos(REPO / "contrib_src" / "sample_data", folder)["0.3MP"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "MODELHUB_ACCESS_LOG": "false", "HOME": str(folder)}
    log = open(folder / "bench.log", "wb")  # noqa: SIM115
    serve = [str(BIN / "modelhub"), "serve", "--model-file", str(model), "--port", str(PORT)]
    results = []
    server = subprocess.Popen([*serve, "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        results.append(measure("server", image, args))
    finally:
        stop(server)
    head = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={HEAD_PORT}",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--temp-dir=/tmp/bench-ray-{os.getpid()}",
            "--disable-usage-stats",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        time.sleep(5)
        for replicas, cpus in ((1, 2), (2, 1)):
            driver = subprocess.Popen(
                [
                    *serve,
                    "--engine",
                    "ray",
                    "--ray-address",
                    f"127.0.0.1:{HEAD_PORT}",
                    "--replicas",
                    str(replicas),
                    "--replica-cpus",
                    str(cpus),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                results.append(measure(f"ray {replicas}x{cpus}", image, args))
            finally:
                stop(driver)
    finally:
        stop(head, signal.SIGINT)
        shutil.rmtree(f"/tmp/bench-ray-{os.getpid()}", ignore_errors=True)
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    base = results[0]
    sys.stdout.write(f"model {args.model}, {args.seconds:g} s per point, load average {os.getloadavg()[0]:.2f}\n")
    sys.stdout.write(
        "| setup | conn | req/s | x server | p50 ms | p99 ms | CPU ms/req | less idle | errors |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    for result in results:
        for point, ref in zip(result["predict"], base["predict"], strict=True):
            sys.stdout.write(
                f"| {result['name']} | {point['connections']} | {point['requests_per_s']:.1f} | "
                f"{point['requests_per_s'] / ref['requests_per_s']:.2f} | {point['p50_ms']:.1f} | "
                f"{point['p99_ms']:.1f} | {point['server_cpu_ms_per_request']:.2f} | "
                f"{point['net_cpu_ms_per_request']:.2f} | {point['errors']} |\n"
            )
    idle = ", ".join(f"{r['name']} {r['idle_cpu']:.3f}" for r in results)
    sys.stdout.write(f"\nidle CPU of the stack (cores): {idle}")
    sys.stdout.write("\nGET /v2/health/live, 1 connection (no model work: the serving path alone)\n")
    for result in results:
        health = result["health"]
        sys.stdout.write(
            f"  {result['name']:8s} p50 {health['p50_ms']:.2f} ms, {health['requests_per_s']:.0f} req/s, "
            f"CPU {health['cpu_ms_per_request']:.2f} ms/req, errors {health['errors']}\n"
        )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray.json").write_text(
        json.dumps({"model": args.model, "seconds": args.seconds, "results": results}, indent=1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", default="2,4")
    parser.add_argument("--model", choices=sorted(MODELS), default="int8")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.connections = [int(c) for c in str(args.connections).split(",")]
    if args.inside:
        inside(args)
        return
    command = [
        "unshare",
        "--net",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        'ip link set lo up && exec "$0" "$@"',
        sys.executable,
        __file__,
        "--inside",
        "--seconds",
        str(args.seconds),
        "--connections",
        ",".join(map(str, args.connections)),
        "--model",
        args.model,
    ]
    sys.exit(subprocess.run(command, check=False).returncode)


if __name__ == "__main__":
    main()
