"""A real two-node Ray cluster on loopback, run by ``test_ray_cluster.py`` inside a private network namespace.

    unshare --net --pid --fork --mount-proc sh -c 'ip link set lo up && exec python ray_cluster.py OUT MODEL'

Loopback is the only interface there, so every port Ray opens is on it; the namespace's own PID
space means that what this script starts can be listed (``/proc``) and nothing survives it.  It
starts a head and a second node (``ray start --block``, 1 CPU each), the single-node server, and
``modelhub serve --engine ray`` with 2 replicas of 1 CPU; records the answers of both servers to the
same requests; kills one replica with SIGKILL under a steady load; stops every process by its pid;
and writes what it saw to ``OUT`` (JSON) for the test to check.  Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data"
HEAD_PORT, SERVER_PORT, RAY_PORT = 6390, 8081, 8082
UPLOAD_LIMIT = 1_000_000  # both servers: an upload over it must be refused the same way
LOAD_SECONDS, KILL_AFTER, RECOVERY_LIMIT = 12.0, 3.0, 60.0


def processes() -> dict[int, tuple[int, str]]:
    """Every process of the namespace but this one: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (parent, command)
    return found


def reap() -> None:
    """As the namespace's PID 1, collect the exit status of processes orphaned to it (else they stay zombies)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def replicas() -> dict[int, int]:
    """Live replica processes of the ModelHub deployment: pid -> parent (its node's raylet)."""
    return {pid: parent for pid, (parent, command) in processes().items() if "ServeReplica:modelhub" in command}


def start(name: str, args: list[str], logs: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def wait_for(check: Any, limit: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not within {limit:g} s")


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def exchanges() -> list[tuple[str, str, dict[str, Any]]]:
    """The requests both servers answer: (name, method path, requests' keyword arguments)."""
    cat, cup = (SAMPLES / "cat_chelsea.png").read_bytes(), (SAMPLES / "coffee_cup.jpg").read_bytes()
    oip = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [2],
                "data": [base64.b64encode(cat).decode(), base64.b64encode(cup).decode()],
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 5}}],
    }
    items: list[tuple[str, str, dict[str, Any]]] = [
        (f"predict {photo.name}", "POST /api/predict?top=5", {"files": {"file": (photo.name, photo.read_bytes())}})
        for photo in sorted(SAMPLES.iterdir())
    ]
    items += [
        ("predict full", "POST /api/predict", {"files": {"file": ("cat.png", cat)}}),
        ("predict_sample", "GET /api/predict_sample?filename=pagoda_china.jpg&top=3", {}),
        ("get_config", "GET /api/get_config", {}),
        ("get_model_io", "GET /api/get_model_io", {}),
        ("get_legal", "GET /api/get_legal", {}),
        ("page", "GET /", {}),
        ("unknown route", "GET /nope", {}),
        ("oip server", "GET /v2", {}),
        ("oip metadata", "GET /v2/models/mobilenet", {}),
        ("oip config", "GET /v2/models/mobilenet/config", {}),
        ("oip ready", "GET /v2/models/mobilenet/ready", {}),
        ("oip infer", "POST /v2/models/mobilenet/infer", {"json": oip}),
        ("oip bad json", "POST /v2/models/mobilenet/infer", {"data": b"{not json"}),
        ("not an image", "POST /api/predict", {"files": {"file": ("x.png", b"not an image at all")}}),
        ("url fetch off", "GET /api/predict?fileurl=http://127.0.0.1:1/x.png", {}),
        ("too large", "POST /api/predict", {"files": {"file": ("big.png", b"\0" * (UPLOAD_LIMIT + 200_000))}}),
        ("live", "GET /v2/health/live", {}),
        ("ready", "GET /v2/health/ready", {}),
    ]
    return items


def record(port: int) -> dict[str, Any]:
    answers = {}
    for name, line, kwargs in exchanges():
        method, path = line.split(" ", 1)
        response = requests.request(method, f"http://127.0.0.1:{port}{path}", timeout=30, **kwargs)
        answers[name] = {
            "status": response.status_code,
            "body": base64.b64encode(response.content).decode(),
            "headers": {k.lower(): v for k, v in response.headers.items()},
        }
    return answers


def steady_load(port: int, seconds: float, kill: Any) -> dict[str, Any]:
    """Two clients posting photos back to back, and a readiness probe, while ``kill`` runs once.

    The clients retry a 500, 502 or 503 up to 3 times (what Ray's docs advise: a request that a replica
    held when it died fails; inference is idempotent): each outcome is (time, final status, attempts that failed).
    """
    photo = (SAMPLES / "coffee_cup.jpg").read_bytes()
    outcomes: list[tuple[float, str, int]] = []
    probes: list[tuple[float, int]] = []
    end = time.monotonic() + seconds
    retry = Retry(
        total=3, backoff_factor=0.1, status_forcelist=(500, 502, 503), allowed_methods=None, raise_on_status=False
    )

    def client() -> None:
        with requests.Session() as session:
            session.mount("http://", HTTPAdapter(max_retries=retry))
            while time.monotonic() < end:
                try:
                    response = session.post(
                        f"http://127.0.0.1:{port}/api/predict?top=1", files={"file": ("cup.jpg", photo)}, timeout=30
                    )
                    history = response.raw.retries.history if response.raw.retries else ()
                    outcomes.append((time.monotonic(), str(response.status_code), len(history)))
                except requests.RequestException as error:
                    outcomes.append((time.monotonic(), type(error).__name__, 1))

    def probe() -> None:
        while time.monotonic() < end:
            probes.append((time.monotonic(), 200 if ready(port) else 0))
            time.sleep(0.25)

    threads = [threading.Thread(target=client) for _ in range(2)] + [threading.Thread(target=probe)]
    for thread in threads:
        thread.start()
    killed_at = kill()
    for thread in threads:
        thread.join(seconds + 40)
    failed = [o for o in outcomes if o[1] != "200"]
    return {
        "requests": len(outcomes),
        "failed": len(failed),
        "failures": sorted({o[1] for o in failed}),
        "failed_attempts": sum(o[2] for o in outcomes),
        "retried_requests": len([o for o in outcomes if o[2]]),
        "after_kill": len([o for o in outcomes if o[0] > killed_at]),
        "killed_at": killed_at,
        "probes": len(probes),
        "probes_not_ready": len([p for p in probes if p[1] != 200]),
        "probes_not_ready_in_a_row": _longest_run([p[1] != 200 for p in probes]),
    }


def _longest_run(flags: list[bool]) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def serve_status(address: str) -> dict[str, int]:
    """Replica states of the deployment, from the Serve controller (through a short-lived driver)."""
    code = (
        f"import json, ray; from ray import serve; ray.init(address={address!r}, logging_level='ERROR'); "
        "s = serve.status().applications['modelhub'].deployments['ModelHub']; "
        "print(json.dumps({str(getattr(k, 'value', k)): v for k, v in s.replica_states.items()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(Path(sys.argv[1]).parent / "home")},
    )
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else {}


def main(out: Path, model: str) -> None:
    logs = out.parent
    temp = Path(f"/tmp/mhray-{os.getpid()}-{int(time.time())}")
    report: dict[str, Any] = {"stopped": {}}
    # HOME: Ray keeps an auth token in ~/.ray, which one left by another Ray run would contradict
    (logs / "home").mkdir(exist_ok=True)
    ray, env = (
        str(BIN / "ray"),
        {"RAY_USAGE_STATS_ENABLED": "0", "MODELHUB_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "HOME": str(logs / "home")},
    )
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    address = f"127.0.0.1:{HEAD_PORT}"
    try:
        t0 = time.monotonic()
        started.append(
            (
                "head",
                start(
                    "head",
                    [
                        ray,
                        "start",
                        "--head",
                        "--block",
                        "--node-ip-address=127.0.0.1",
                        f"--port={HEAD_PORT}",
                        "--num-cpus=1",
                        "--include-dashboard=false",
                        f"--temp-dir={temp}",
                        "--disable-usage-stats",
                    ],
                    logs,
                    env,
                ),
            )
        )
        time.sleep(3)
        started.append(
            (
                "node2",
                start(
                    "node2",
                    [ray, "start", "--block", f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1"],
                    logs,
                    env,
                ),
            )
        )
        started.append(
            (
                "server",
                start(
                    "server",
                    [
                        str(BIN / "modelhub"),
                        "serve",
                        "--model-file",
                        model,
                        "--port",
                        str(SERVER_PORT),
                        "--workers",
                        "1",
                    ],
                    logs,
                    env,
                ),
            )
        )
        started.append(
            (
                "ray-serve",
                start(
                    "ray-serve",
                    [
                        str(BIN / "modelhub"),
                        "serve",
                        "--engine",
                        "ray",
                        "--ray-address",
                        address,
                        "--replicas",
                        "2",
                        "--replica-cpus",
                        "1",
                        "--model-file",
                        model,
                        "--port",
                        str(RAY_PORT),
                    ],
                    logs,
                    env,
                ),
            )
        )
        wait_for(lambda: ready(SERVER_PORT), 60, "the single-node server")
        report["ray_ready_s"] = round(
            wait_for(lambda: ready(RAY_PORT), 150, "the Ray Serve application") + time.monotonic() - t0, 1
        )
        # Ready is one replica ready; the second may still be loading its model.
        report["all_replicas_s"] = round(
            wait_for(
                lambda: len(replicas()) == 2 and serve_status(address).get("RUNNING") == 2, 90, "both replicas running"
            ),
            1,
        )
        report["replica_parents"] = list(replicas().values())
        report["listening"] = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        report["single"], report["ray"] = record(SERVER_PORT), record(RAY_PORT)

        def kill() -> float:
            time.sleep(KILL_AFTER)
            victim = min(replicas())
            os.kill(victim, signal.SIGKILL)
            report["killed"] = victim
            return time.monotonic()

        report["fault"] = steady_load(RAY_PORT, LOAD_SECONDS, kill)
        killed = report["killed"]
        wait_for(
            lambda: len(set(replicas()) - {killed}) == 2 and serve_status(address).get("RUNNING") == 2,
            RECOVERY_LIMIT,
            "two running replicas again",
        )
        report["recovery_s"] = round(time.monotonic() - report["fault"].pop("killed_at"), 1)
        report["replicas_after"] = len(replicas())
    except Exception as error:  # reported, and the processes are still stopped below
        report["error"] = f"{type(error).__name__}: {error}"
    finally:
        for name, process in reversed(started):  # the Ray driver first: it removes the application
            if process.poll() is None:
                process.send_signal(signal.SIGINT if name in ("head", "node2") else signal.SIGTERM)
            try:
                report["stopped"][name] = process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                report["stopped"][name] = f"killed after 40 s: {process.wait()}"
        time.sleep(1)
        reap()
        report["left_behind"] = [command for _parent, command in processes().values()]
        shutil.rmtree(temp, ignore_errors=True)
        out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
