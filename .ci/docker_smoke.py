"""Smoke tests of the built image under podman (called by .ci/docker; stdlib only, runs with any python3).

    python3 .ci/docker_smoke.py IMAGE --override init-override.json [--podman "podman --runtime runc"] [--ulimits ...]

Every check prints one line, ``ok`` or ``FAIL``; the exit status is 1 when any check failed.  Each
container is started with ``-p 127.0.0.1:PORT:...`` and removed by its id at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "contrib_src" / "sample_data"
# photo -> classes of which at least one must be in the top 5 (as tests/contrib_src/test_model_real.py)
EXPECTED = {
    "cat_chelsea.png": {"Egyptian cat", "tabby, tabby cat", "tiger cat"},
    "coffee_cup.jpg": {"espresso", "cup", "coffee mug"},
    "rocket_falcon9_launch.jpg": {"missile", "projectile, missile", "space shuttle"},
    "pagoda_china.jpg": {"palace", "monastery", "pagoda, pagoda tree"},
}
CAP_NET_BIND_SERVICE = 1 << 10
PROCESSES = """
import json, os
rows = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip()
    except OSError:
        continue
    rows.append({"pid": int(pid), "uids": status["Uid"].split(), "gids": status["Gid"].split(),
                 "cap_eff": int(status["CapEff"], 16), "cmd": cmd})
print(json.dumps(rows))
"""
WRITABLE = """
import json, os, site, sys
paths = ["/srv/modelhub", "/srv/modelhub/init/init.json", "/srv/modelhub/contrib_src/inference.py",
         "/srv/modelhub/contrib_src/model", "/usr/local/bin/modelhub", "/usr/local/bin/modelhub-python"]
paths += sorted(str(p) for p in __import__("pathlib").Path("/srv/modelhub/contrib_src/model").glob("*.onnx"))
paths += [os.path.dirname(__import__("modelhub").__file__), __import__("modelhub.settings").settings.__file__]
found = {}
for path in paths:
    try:
        if os.path.isdir(path):
            open(os.path.join(path, ".write-probe"), "x").close()
        else:
            open(path, "r+b").close()
        found[path] = "WRITABLE"
    except OSError as error:
        found[path] = error.strerror
print(json.dumps(found))
"""


class Smoke:
    def __init__(
        self, podman: list[str], image: str, override: dict[str, Any], ulimits: list[str], network: str
    ) -> None:
        self.podman, self.image, self.override, self.ulimits, self.network = podman, image, override, ulimits, network
        self.failures: list[str] = []
        self.containers: list[str] = []

    def check(self, ok: bool, what: str, detail: object = "") -> bool:
        sys.stdout.write(f"{'ok  ' if ok else 'FAIL'}  {what}" + (f": {detail}" if detail != "" else "") + "\n")
        sys.stdout.flush()
        if not ok:
            self.failures.append(what)
        return ok

    def pod(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.podman, *args], capture_output=True, text=True, timeout=timeout)

    def start(self, *options: str, command: tuple[str, ...] = (), port: int = 80) -> tuple[str, str]:
        host_port = free_port()
        result = self.pod(
            "run",
            "-d",
            *self.ulimits,
            f"--network={self.network}",
            "-p",
            f"127.0.0.1:{host_port}:{port}",
            *options,
            self.image,
            *command,
        )
        if result.returncode != 0:
            raise RuntimeError(f"podman run failed: {result.stderr.strip()}")
        container = result.stdout.strip().splitlines()[-1]
        self.containers.append(container)
        return container, f"http://127.0.0.1:{host_port}"

    def wait_ready(self, container: str, url: str, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            if self.pod("inspect", "--format", "{{.State.Running}}", container).stdout.strip() != "true":
                break
            time.sleep(0.25)
        sys.stdout.write(self.pod("logs", container).stderr[-3000:] + "\n")
        return False

    def exec_python(self, container: str, code: str) -> Any:
        result = self.pod("exec", container, "python", "-c", code)
        if result.returncode != 0:
            raise RuntimeError(f"podman exec failed: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def log_of(self, container: str) -> str:
        result = self.pod("logs", container)
        return result.stdout + result.stderr

    def cleanup(self) -> None:
        for container in self.containers:
            self.pod("rm", "-f", "-t", "0", container)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def multipart(name: str) -> tuple[bytes, str]:
    boundary = "modelhubsmokeboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + (SAMPLES / name).read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


def predict(url: str, name: str) -> list[str]:
    body, boundary = multipart(name)
    request = urllib.request.Request(
        f"{url}/api/predict?top=5",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [e["label"] for e in json.load(response)["output"][0]["prediction"]]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def oip_top(url: str, name: str) -> list[str]:
    data = base64.b64encode((SAMPLES / name).read_bytes()).decode()
    doc = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [data]}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 5}}],
    }
    request = urllib.request.Request(
        f"{url}/v2/models/mobilenet/infer",
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [entry.split(":", 2)[2] for entry in json.load(response)["outputs"][0]["data"]]


def workers_in(log: str) -> int | None:
    for line in log.splitlines():
        if "modelhub server listening on" in line and "worker process" in line:
            return int(line.split(" with ", 1)[1].split()[0])
    return None


def check_serving(s: Smoke) -> None:
    """The image as `docker run -p 80:80` starts it: predictions, OIP, health, users, files, SIGTERM."""
    container, url = s.start()
    if not s.check(s.wait_ready(container, url), "default container ready on port 80 (as uid 10001)"):
        return
    for name, classes in EXPECTED.items():
        labels = predict(url, name)
        s.check(bool(classes & set(labels)), f"/api/predict {name}: one of {sorted(classes)} in the top 5", labels)
    top = oip_top(url, "cat_chelsea.png")
    s.check(bool(EXPECTED["cat_chelsea.png"] & set(top)), "OIP /v2/models/mobilenet/infer (BYTES image)", top)
    served = get_json(f"{url}/api/get_config")["model"]["file"]
    s.check(
        served["verified"] is True
        and served["variant"] == "float"
        and served["sha256"] == s.override["variants"]["float"]["sha256"],
        "default variant float served, sha256 verified",
        served["sha256"],
    )
    health = s.pod("healthcheck", "run", container)
    s.check(health.returncode == 0, "HEALTHCHECK healthy while serving", (health.stdout + health.stderr).strip())
    rows = s.exec_python(container, PROCESSES)
    servers = [r for r in rows if "modelhub" in r["cmd"] and "healthcheck" not in r["cmd"]]
    s.check(
        bool(rows) and all("0" not in r["uids"] and "0" not in r["gids"] for r in rows),
        f"all {len(rows)} processes non-root (uid, euid, suid, fsuid and gids)",
        sorted({r["uids"][0] for r in rows}),
    )
    s.check(
        bool(servers) and all(r["cap_eff"] == CAP_NET_BIND_SERVICE for r in servers),
        f"the {len(servers)} server processes hold only cap_net_bind_service",
        sorted({hex(r["cap_eff"]) for r in servers}),
    )
    others = [r for r in rows if r not in servers]  # `podman exec python`: the image's plain interpreter
    s.check(
        bool(others) and all(r["cap_eff"] == 0 for r in others),
        "plain python (as the HEALTHCHECK runs) holds no capability",
        sorted({hex(r["cap_eff"]) for r in others}),
    )
    written = s.exec_python(container, WRITABLE)
    s.check(
        len(written) >= 9 and all(v != "WRITABLE" for v in written.values()),
        f"{len(written)} code and model paths not writable by the server's user",
        written,
    )
    workers = workers_in(s.log_of(container))
    cpus = s.exec_python(container, "import json, os; print(json.dumps(len(os.sched_getaffinity(0))))")
    s.check(workers == cpus, f"without --cpus: one worker per CPU ({cpus})", workers)
    check_sigterm(s, container, url)


def check_sigterm(s: Smoke, container: str, url: str) -> None:
    """SIGTERM while a request's body is half sent: the request is answered, the container exits 0."""
    import http.client

    body, boundary = multipart("cat_chelsea.png")
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/predict?top=5")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[: len(body) // 2])
    time.sleep(0.5)
    signalled = s.pod("kill", "--signal", "TERM", container)
    time.sleep(1.0)
    conn.send(body[len(body) // 2 :])
    response = conn.getresponse()
    answer = json.loads(response.read() or b"{}")
    labels = [e["label"] for e in answer.get("output", [{}])[0].get("prediction", [])]
    s.check(
        signalled.returncode == 0 and response.status == 200 and bool(EXPECTED["cat_chelsea.png"] & set(labels)),
        "SIGTERM during a request: the request is answered in full",
        f"{response.status} {labels[:1]}",
    )
    waited = s.pod("wait", container, timeout=60)
    s.check(waited.stdout.strip() == "0", "SIGTERM: the container exits 0", waited.stdout.strip())


def check_unhealthy(s: Smoke) -> None:
    container, _url = s.start(command=("python", "-c", "import time; time.sleep(600)"))
    health = s.pod("healthcheck", "run", container)
    s.check(
        health.returncode != 0 and "unhealthy" in health.stdout + health.stderr,
        "HEALTHCHECK unhealthy when nothing serves",
        (health.stdout + health.stderr).strip(),
    )


def check_configured(s: Smoke) -> None:
    """--read-only (tmpfs /tmp only), -e MODELHUB_MODEL_VARIANT=int8, -e MODELHUB_PORT=8080, --cpus=1, and the
    hardened options a high port allows: no-new-privileges (no file capability) and every capability dropped."""
    container, url = s.start(
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs",
        "/tmp",
        "--cpus=1",
        "--security-opt=no-new-privileges",
        "--cap-drop=ALL",
        "--cap-add=NET_BIND_SERVICE",
        "-e",
        "MODELHUB_MODEL_VARIANT=int8",
        "-e",
        "MODELHUB_PORT=8080",
        port=8080,
    )
    if not s.check(
        s.wait_ready(container, url),
        "--read-only, int8, port 8080, --cpus=1, no-new-privileges, --cap-drop=ALL: ready on 8080",
    ):
        return
    labels = predict(url, "cat_chelsea.png")
    s.check(bool(EXPECTED["cat_chelsea.png"] & set(labels)), "--read-only root: predictions work", labels)
    root_ro = s.exec_python(
        container,
        "import json; print(json.dumps([l.split()[3].split(',')[0] for l in "
        "open('/proc/self/mounts') if l.split()[1] == '/']))",
    )
    s.check(root_ro[-1:] == ["ro"], "--read-only: / is mounted read-only", root_ro)
    served = get_json(f"{url}/api/get_config")["model"]["file"]
    s.check(
        served["verified"] is True
        and served["variant"] == "int8"
        and served["sha256"] == s.override["variants"]["int8"]["sha256"]
        and served["file"] == "mobilenetv2-12-int8.onnx",
        "-e MODELHUB_MODEL_VARIANT=int8: the int8 file, verified",
        served["file"],
    )
    health = s.pod("healthcheck", "run", container)
    s.check(
        health.returncode == 0,
        "-e MODELHUB_PORT=8080: served there, HEALTHCHECK follows it",
        (health.stdout + health.stderr).strip(),
    )
    workers = workers_in(s.log_of(container))
    s.check(workers == 1, "--cpus=1: one worker", workers)


def check_port_80_refused_clearly(s: Smoke) -> None:
    """Where file capabilities are ignored (no-new-privileges), port 80 fails with one line that says what to do."""
    container, _url = s.start("--security-opt=no-new-privileges")
    waited = s.pod("wait", container, timeout=60)
    log = s.log_of(container)
    s.check(
        waited.stdout.strip() == "2" and "choose another with MODELHUB_PORT" in log,
        "no-new-privileges on port 80: exit 2 with a clear error",
        log.strip().splitlines()[-1:],
    )


def check_image(s: Smoke) -> None:
    (info,) = json.loads(s.pod("image", "inspect", s.image).stdout)
    config = info.get("Config") or {}
    labels = config.get("Labels") or info.get("Labels") or {}
    want = {
        "org.opencontainers.image.version": "1.0.0",
        "org.opencontainers.image.licenses": "MIT AND Apache-2.0",
        "ai.modelhub.model.file": "mobilenetv2-7.onnx",
        "ai.modelhub.model.sha256": s.override["variants"]["float"]["sha256"],
    }
    s.check(
        all(labels.get(k) == v for k, v in want.items()) and bool(labels.get("org.opencontainers.image.source")),
        "OCI labels: version, source, licences, model file and sha256",
        labels,
    )
    health = config.get("Healthcheck") or info.get("Healthcheck") or {}
    s.check(
        config.get("User") == "10001:10001"
        and health.get("Test") == ["CMD", "python", "-m", "modelhubserve.healthcheck"],
        "image config: USER 10001:10001 and the HEALTHCHECK (kept by the docker format)",
        f"{config.get('User')} {health.get('Test')}",
    )
    s.check(
        not any(a in config.get("Cmd", []) for a in ("--host", "--port")),
        "CMD passes no --host/--port",
        config.get("Cmd"),
    )
    deps = s.pod("run", "--rm", *s.ulimits, "--network=none", s.image, "python", "-m", "pip", "check")
    s.check(deps.returncode == 0, "pip check: every requirement of the installed project is there", deps.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--override", type=Path, required=True, help="the init/override.json the image was built with")
    parser.add_argument("--podman", default="podman --runtime runc", help="podman command with its global options")
    parser.add_argument(
        "--ulimits",
        default="--ulimit=nofile=4096:4096 --ulimit=nproc=4096:4096",
        help="podman run --ulimit options (within the limits podman's conmon gets)",
    )
    parser.add_argument("--network", default="slirp4netns:port_handler=slirp4netns", help="podman run --network")
    args = parser.parse_args()
    s = Smoke(
        shlex.split(args.podman),
        args.image,
        json.loads(args.override.read_text()),
        shlex.split(args.ulimits),
        args.network,
    )
    try:
        for step in (check_image, check_serving, check_unhealthy, check_configured, check_port_80_refused_clearly):
            try:
                step(s)
            except Exception as error:  # one broken step is reported and the others still run
                s.check(False, f"{step.__name__} raised", f"{type(error).__name__}: {error}")
    finally:
        s.cleanup()
    sys.stdout.write(f"{len(s.failures)} check(s) failed: {s.failures}\n" if s.failures else "all checks passed\n")
    return 1 if s.failures else 0


if __name__ == "__main__":
    sys.exit(main())
