"""``modelhub serve --engine ray`` on a real two-node Ray cluster: parity, a replica killed under load, shutdown.

The cluster (a head and a second node, 1 CPU each, 2 replicas of 1 CPU) runs in a private network
and PID namespace that the test makes (``unshare --net --pid``, loopback brought up): Ray opens many
ports, and there they can only be on 127.0.0.1.  ``ray_cluster.py`` drives it and reports; the
checks are here.  About 50 s on the shared 2-core development machine (the module), bounded at 240 s.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.model, pytest.mark.server]

SCRIPT = Path(__file__).with_name("ray_cluster.py")
RECOVERY_LIMIT_S = 60  # stated: Ray replaces a killed replica and both run again within this
VOLATILE = ("timestamp", "processing_time")  # differ between any two answers, whatever the server


@pytest.fixture(scope="module")
def cluster(int8_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("ray.serve", reason='Ray Serve is not installed (pip install -e ".[ray]")')
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root, unshare and ip to make a private network namespace")
    folder = tmp_path_factory.mktemp("ray")
    out = folder / "report.json"
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
        str(SCRIPT),
        str(out),
        str(int8_model),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=folder)
    logs = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in folder.glob("*.log"))
    assert out.is_file(), f"no report (exit {result.returncode}): {result.stderr[-3000:]}\n{logs}"
    report: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in report, f"{report['error']}\n{logs}"
    return report


def _answer(entry: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    # The servers' own addresses (in the 404's pointer to /docs) differ by port only.
    body = re.sub(rb"http://127\.0\.0\.1:\d+/", b"http://127.0.0.1:PORT/", base64.b64decode(entry["body"]))
    try:
        value: Any = json.loads(body)
    except ValueError:
        value = body
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if key not in VOLATILE}
    headers = {name: entry["headers"].get(name, "") for name in ("content-type", "access-control-allow-origin")}
    return entry["status"], value, headers


def test_two_nodes_one_replica_each(cluster: dict[str, Any]) -> None:
    parents = cluster["replica_parents"]
    assert len(parents) == 2 and len(set(parents)) == 2, parents  # each replica's parent is its node's raylet


def test_the_proxy_binds_loopback(cluster: dict[str, Any]) -> None:
    lines = [line for line in cluster["listening"].splitlines() if ":8082 " in line]
    assert lines and all(" 127.0.0.1:8082 " in line for line in lines), cluster["listening"]


def test_modelhub_answers_equal_the_single_node_server(cluster: dict[str, Any]) -> None:
    single, ray = cluster["single"], cluster["ray"]
    for name in single:
        if not name.startswith("oip"):
            assert _answer(ray[name]) == _answer(single[name]), name
    labels = [entry["label"] for entry in _answer(ray["predict cat_chelsea.png"])[1]["output"][0]["prediction"]]
    assert labels[0] == "Egyptian cat", labels
    assert json.loads(base64.b64decode(ray["predict full"]["body"]))["output"][0]["shape"] == [1000]


def test_oip_answers_equal_the_single_node_server(cluster: dict[str, Any]) -> None:
    single, ray = cluster["single"], cluster["ray"]
    for name in single:
        if name.startswith("oip"):
            assert _answer(ray[name]) == _answer(single[name]), name
    status, body, _ = _answer(ray["oip infer"])
    assert status == 200 and body["outputs"][0]["shape"] == [2, 5]
    assert body["outputs"][0]["data"][0].endswith(":Egyptian cat") and ":espresso" in body["outputs"][0]["data"][5]


def test_limits_hold_through_ray(cluster: dict[str, Any]) -> None:
    ray = cluster["ray"]
    assert _answer(ray["too large"])[:2] == (413, {"error": "the upload is larger than the limit of 1000000 bytes"})
    assert _answer(ray["url fetch off"])[0] == 403
    assert _answer(ray["not an image"])[0] in (400, 415)
    assert _answer(ray["unknown route"])[0] == 404 and _answer(ray["ready"])[0] == 200


def test_a_killed_replica_is_replaced(cluster: dict[str, Any]) -> None:
    fault = cluster["fault"]
    sys.stdout.write(
        f"\nreplica killed under load: {fault['retried_requests']} of {fault['requests']} requests "
        f"failed a first time ({fault['failed_attempts']} failed attempts), {fault['failed']} failed "
        f"after the client's retries ({fault['failures']}); readiness probes not ready: "
        f"{fault['probes_not_ready']} of {fault['probes']}; two replicas running again "
        f"{cluster['recovery_s']} s after the kill\n"
    )
    from modelhubserve.ray_app import MAX_ONGOING_REQUESTS

    assert fault["failed"] == 0, fault  # with the retry policy, no request failed
    assert fault["retried_requests"] <= MAX_ONGOING_REQUESTS, fault  # without it: at most what the replica held
    # The other replica kept serving.  A probe the proxy routed to the dying replica may fail once (seen
    # once in a full run of the suite); no two in a row did, so a probe with Kubernetes' default failureThreshold (3)
    # never saw the service unready.
    assert fault["after_kill"] > 0 and fault["probes_not_ready_in_a_row"] <= 1, fault
    assert cluster["recovery_s"] <= RECOVERY_LIMIT_S and cluster["replicas_after"] == 2


def test_every_process_is_stopped_by_its_pid(cluster: dict[str, Any]) -> None:
    assert cluster["stopped"].keys() == {"head", "node2", "server", "ray-serve"}
    assert all(isinstance(code, int) for code in cluster["stopped"].values()), cluster["stopped"]
    assert cluster["left_behind"] == []


# SIGTERM to `modelhub serve --engine ray` (local mode), right after it is ready and a little later: the
# application is removed and Ray stopped, exit 0, no process left in the namespace.  Before the fix, Ray's
# native SIGTERM handler aborted the command 3 s into its cleanup (exit 134) and left Ray's agents running.
LOCAL_STOP = """
ip link set lo up
modelhub serve --engine ray --model-file "$MODEL" --port 8090 > "$LOG" 2>&1 &
pid=$!
for _ in $(seq 120); do curl -sf http://127.0.0.1:8090/v2/health/ready > /dev/null && break; sleep 1; done
sleep "$DELAY"
curl -s -o /dev/null -w 'predict %{http_code}\\n' -F file=@"$PHOTO" http://127.0.0.1:8090/api/predict
kill -TERM "$pid"
wait "$pid"
echo "exit $?"
sleep 2
echo "left: $(ps -eo comm= | grep -v -x -e bash -e ps -e sleep -e grep -e tr | tr '\\n' ' ')"
"""


@pytest.mark.parametrize("delay", [0, 3])
def test_sigterm_stops_the_local_mode_with_exit_0(int8_model: Path, tmp_path: Path, delay: int) -> None:
    pytest.importorskip("ray.serve", reason='Ray Serve is not installed (pip install -e ".[ray]")')
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root, unshare and ip to make a private network namespace")
    photo = Path(__file__).resolve().parents[2] / "contrib_src" / "sample_data" / "cat_chelsea.png"
    env = {
        **os.environ,
        "HOME": str(tmp_path),  # Ray's auth token and state stay in the test's own folder
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MODEL": str(int8_model),
        "PHOTO": str(photo),
        "LOG": str(tmp_path / "serve.log"),
        "DELAY": str(delay),
    }
    result = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", LOCAL_STOP],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    log = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert "predict 200" in result.stdout, result.stdout + result.stderr + log
    assert "exit 0" in result.stdout, result.stdout + log
    assert result.stdout.rstrip().endswith("left:"), result.stdout  # no Ray process outlives the command
